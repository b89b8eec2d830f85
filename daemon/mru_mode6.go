package daemon

// AppendEntries appends a copy of every row, most recently seen first, to
// dst and returns it. It allocates only when dst lacks capacity, and holds
// the table's lock just for the copy (for READ_MRU, which must not stall
// the packet path while it formats its answer).
func (m *MRU) AppendEntries(dst []MRUEntry) []MRUEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := m.head; i >= 0; i = m.ents[i].next {
		e := &m.ents[i]
		dst = append(dst, e.export())
	}
	return dst
}
