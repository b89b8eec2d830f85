package daemon

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// RateVerdict is the MRU table's decision for one packet.
type RateVerdict uint8

const (
	// RateOK: answer normally.
	RateOK RateVerdict = iota
	// RateLimited: over the limit; drop silently.
	RateLimited
	// RateKoD: over the limit; answer with a RATE kiss-o'-death.
	RateKoD
)

func (v RateVerdict) String() string {
	switch v {
	case RateOK:
		return "ok"
	case RateLimited:
		return "limited"
	case RateKoD:
		return "kod"
	}
	return "?"
}

// MRUOptions configures the source table.
type MRUOptions struct {
	// Capacity is the fixed number of sources remembered (default 4096).
	// When full, the least recently seen source is forgotten.
	Capacity int
	// Average is "discard average": log2 seconds of the minimum average
	// interval between packets of one source (ntpd's default is 3, 8 s;
	// here the value is taken as given, 0 meaning 1 s, clamped to 0..17).
	Average int
	// Minimum is "discard minimum": the minimum interval between two
	// packets of one source, in seconds (ntpd's default 2; taken as given,
	// 0 meaning none).
	Minimum int
	// Burst is how many packets a fresh source may send back to back
	// before the average applies (default 8, like ntpd's 8-stage shift).
	Burst int
	// KoDPerSecond bounds the kiss-o'-death replies of the whole table
	// (all sources together), so a flood from spoofed addresses cannot be
	// turned into a flood of KoDs (default 100).
	KoDPerSecond int
}

func (o *MRUOptions) defaults() {
	if o.Capacity <= 0 {
		o.Capacity = 4096
	}
	o.Average = max(0, min(o.Average, 17))
	o.Minimum = max(0, o.Minimum)
	if o.Burst <= 0 {
		o.Burst = 8
	}
	if o.KoDPerSecond <= 0 {
		o.KoDPerSecond = 100
	}
}

type mruEntry struct {
	key      [16]byte
	count    uint64
	first    int64 // ns, caller's time base
	last     int64
	leak     int64 // leaky bucket level, ns
	lastKoD  int64
	hnext    int32  // hash chain, -1 = end
	prev     int32  // LRU list (toward most recent), -1 = none
	next     int32  // LRU list (toward least recent), -1 = none
	port     uint16 // source port of the last packet
	version  uint8  // NTP version of the last packet
	limited  bool   // the last packet was over the rate (dropped or kissed)
	occupied bool
}

// MRU is the table of recently seen client addresses, used for the
// "limited" and "kod" restrictions (and for monitoring). It has a fixed
// capacity chosen at construction: memory never grows with the number of
// sources, lookups and updates are O(1) and do not allocate. It is safe for
// concurrent use.
type MRU struct {
	mu      sync.Mutex
	opts    MRUOptions
	seed    uint64
	buckets []int32 // head entry index per hash bucket, -1 = empty
	ents    []mruEntry
	n       int
	head    int32 // most recently seen
	tail    int32 // least recently seen
	free    int32 // next never-used slot

	avgInt, minInt, limit int64

	kodTokens int64 // ns of budget; one KoD costs kodCost
	kodCost   int64
	kodLast   int64
	kodInit   bool
}

// NewMRU returns an empty table.
func NewMRU(o MRUOptions) *MRU {
	o.defaults()
	nb := 1
	for nb < o.Capacity {
		nb <<= 1
	}
	m := &MRU{
		opts:    o,
		seed:    rand.Uint64() | 1,
		buckets: make([]int32, nb),
		ents:    make([]mruEntry, o.Capacity),
		head:    -1,
		tail:    -1,
		avgInt:  int64(time.Second) << o.Average,
		minInt:  int64(o.Minimum) * int64(time.Second),
		kodCost: int64(time.Second) / int64(o.KoDPerSecond),
	}
	m.limit = int64(o.Burst) * m.avgInt
	for i := range m.buckets {
		m.buckets[i] = -1
	}
	return m
}

// Len is the number of sources in the table.
func (m *MRU) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// Cap is the fixed capacity.
func (m *MRU) Cap() int { return m.opts.Capacity }

func (m *MRU) hash(k *[16]byte) int {
	a := binary.LittleEndian.Uint64(k[:8])
	b := binary.LittleEndian.Uint64(k[8:])
	h := mix64(mix64(a^m.seed) ^ b)
	return int(h & uint64(len(m.buckets)-1))
}

// mix64 is the splitmix64 finaliser: every input bit affects every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Observe records a client packet from src (with its NTP version) at time
// now (nanoseconds on any monotonic time base shared by all calls) and
// decides whether it may be answered. limited and kod are the source's restrict flags: without
// limited every packet is RateOK (the source is still recorded); with
// limited a packet that comes sooner than the "discard minimum" after the
// previous one, or that overflows the source's leaky bucket (each packet
// adds 2^average seconds, the bucket drains one second per second and holds
// Burst packets' worth), is RateLimited, or RateKoD when kod is set and
// both the per-source KoD interval (2^average s) and the table-wide KoD
// budget allow one.
func (m *MRU) Observe(src netip.AddrPort, version uint8, now int64, limited, kod bool) RateVerdict {
	key := src.Addr().Unmap().As16()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, fresh := m.lookup(&key, now)
	e.count++
	e.port, e.version, e.limited = src.Port(), version, false
	interval := now - e.last
	if fresh {
		interval = 1 << 62
	}
	e.last = now
	leak := e.leak - interval
	if leak < 0 {
		leak = 0
	}
	if !limited {
		e.leak = min(leak+m.avgInt, m.limit)
		return RateOK
	}
	if interval >= m.minInt && leak+m.avgInt <= m.limit {
		e.leak = leak + m.avgInt
		return RateOK
	}
	e.leak = leak
	e.limited = true
	if !kod {
		return RateLimited
	}
	if e.lastKoD != 0 && now-e.lastKoD < m.avgInt {
		return RateLimited
	}
	if !m.takeKoD(now) {
		return RateLimited
	}
	e.lastKoD = now
	return RateKoD
}

// takeKoD spends one unit of the table-wide KoD budget (a token bucket of
// KoDPerSecond per second, holding one second's worth).
func (m *MRU) takeKoD(now int64) bool {
	full := int64(time.Second)
	if !m.kodInit {
		m.kodInit, m.kodTokens, m.kodLast = true, full, now
	}
	if d := now - m.kodLast; d > 0 {
		m.kodTokens = min(m.kodTokens+d, full)
	}
	m.kodLast = now
	if m.kodTokens < m.kodCost {
		return false
	}
	m.kodTokens -= m.kodCost
	return true
}

// lookup finds or inserts key and moves it to the front of the LRU list.
func (m *MRU) lookup(key *[16]byte, now int64) (*mruEntry, bool) {
	b := m.hash(key)
	for i := m.buckets[b]; i >= 0; i = m.ents[i].hnext {
		if m.ents[i].key == *key {
			m.toFront(i)
			return &m.ents[i], false
		}
	}
	var i int32
	if int(m.free) < len(m.ents) {
		i = m.free
		m.free++
		m.n++
	} else {
		i = m.tail
		m.unlinkHash(i)
		m.unlinkLRU(i)
	}
	e := &m.ents[i]
	*e = mruEntry{key: *key, first: now, last: now, hnext: m.buckets[b], prev: -1, next: -1, occupied: true}
	m.buckets[b] = i
	m.pushFront(i)
	return e, true
}

func (m *MRU) unlinkHash(i int32) {
	b := m.hash(&m.ents[i].key)
	p := &m.buckets[b]
	for *p >= 0 {
		if *p == i {
			*p = m.ents[i].hnext
			return
		}
		p = &m.ents[*p].hnext
	}
}

func (m *MRU) unlinkLRU(i int32) {
	e := &m.ents[i]
	if e.prev >= 0 {
		m.ents[e.prev].next = e.next
	} else {
		m.head = e.next
	}
	if e.next >= 0 {
		m.ents[e.next].prev = e.prev
	} else {
		m.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (m *MRU) pushFront(i int32) {
	e := &m.ents[i]
	e.prev, e.next = -1, m.head
	if m.head >= 0 {
		m.ents[m.head].prev = i
	}
	m.head = i
	if m.tail < 0 {
		m.tail = i
	}
}

func (m *MRU) toFront(i int32) {
	if m.head == i {
		return
	}
	m.unlinkLRU(i)
	m.pushFront(i)
}

// MRUEntry is a copy of one table row (for diagnostics and tests).
type MRUEntry struct {
	Addr        netip.Addr
	Count       uint64
	First, Last int64
	// Port and Version are those of the source's last packet; Limited says
	// it was over the rate (dropped, or answered with a kiss).
	Port    uint16
	Version uint8
	Limited bool
}

// Entries returns the rows, most recently seen first. It allocates; not
// for the packet path.
func (m *MRU) Entries() []MRUEntry {
	m.mu.Lock()
	n := m.n
	m.mu.Unlock()
	return m.AppendEntries(make([]MRUEntry, 0, n))
}

func (e *mruEntry) export() MRUEntry {
	return MRUEntry{Addr: netip.AddrFrom16(e.key).Unmap(), Count: e.count, First: e.first, Last: e.last,
		Port: e.port, Version: e.version, Limited: e.limited}
}
