package loadgen

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// echoServer answers mode 3 with a minimal mode 4 reply; it drops every
// dropEvery-th request (0: none) so loss accounting can be checked.
func echoServer(t *testing.T, dropEvery int) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		n := 0
		for {
			k, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			n++
			if dropEvery > 0 && n%dropEvery == 0 {
				continue
			}
			req, err := ntp.ParseHeader(buf[:k])
			if err != nil {
				continue
			}
			rx := ntp.TimestampFromTime(time.Now())
			rep := ntp.Header{Version: req.Version, Mode: ntp.ModeServer, Stratum: 2, OrigTime: req.XmitTime, RecvTime: rx, XmitTime: ntp.TimestampFromTime(time.Now())}
			pc.WriteToUDPAddrPort(rep.Marshal(), from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestRunCountsRepliesAndLoss(t *testing.T) {
	tests := []struct {
		name      string
		dropEvery int
		wantLoss  float64
	}{
		{"no loss", 0, 0},
		{"every 4th dropped", 4, 0.25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := echoServer(t, tt.dropEvery)
			res, err := Run(context.Background(), Config{Server: srv, Rate: 2000, Duration: 300 * time.Millisecond, Sources: 4})
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent < 400 || res.Invalid != 0 {
				t.Fatalf("sent %d invalid %d", res.Sent, res.Invalid)
			}
			if d := res.Loss - tt.wantLoss; d < -0.02 || d > 0.02 {
				t.Fatalf("loss %.3f, want %.2f (sent %d replies %d)", res.Loss, tt.wantLoss, res.Sent, res.Replies)
			}
			if res.RTT50 <= 0 || res.RTT99 < res.RTT50 {
				t.Fatalf("rtt p50 %v p99 %v", res.RTT50, res.RTT99)
			}
		})
	}
}

func TestRunRefusesRemoteTargets(t *testing.T) {
	_, err := Run(context.Background(), Config{Server: netip.MustParseAddrPort("192.0.2.1:123"), Rate: 1, Duration: time.Millisecond})
	if !errors.Is(err, ErrRemote) {
		t.Fatalf("err = %v, want ErrRemote", err)
	}
}

func TestRunHonoursPacketCap(t *testing.T) {
	srv := echoServer(t, 0)
	res, err := Run(context.Background(), Config{Server: srv, Rate: 5000, Duration: time.Second, MaxPackets: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 100 {
		t.Fatalf("sent %d, want the cap of 100", res.Sent)
	}
}

func TestGeneratorLimited(t *testing.T) {
	tests := []struct {
		offered float64
		rate    int
		want    bool
	}{
		{10000, 10000, false},
		{9600, 10000, false},
		{9400, 10000, true},
		{0, 1000, true},
	}
	for _, tt := range tests {
		if got := GeneratorLimited(Result{Offered: tt.offered}, tt.rate); got != tt.want {
			t.Errorf("offered %.0f of %d: %v", tt.offered, tt.rate, got)
		}
	}
}

// MaxRate reports the rate actually offered by the best step, not the
// nominal one.
func TestMaxRateReportsOfferedRate(t *testing.T) {
	srv := echoServer(t, 0)
	best, steps, err := MaxRate(context.Background(), Config{Server: srv, Duration: 100 * time.Millisecond, Sources: 2},
		[]int{1000, 2000}, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	last := steps[len(steps)-1]
	if best != int(last.Offered) || best <= 0 {
		t.Fatalf("best %d, last step offered %.0f", best, last.Offered)
	}
}
