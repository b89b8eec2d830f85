package chrony_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ntpkit/ntpkit/query/chrony"
)

// How ntpq -p can fall back to chronyd when mode 6 gets no answer. (Not
// run: it needs a chronyd.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := chrony.Detect(ctx, "127.0.0.1", 300*time.Millisecond); err != nil {
		fmt.Println("no chronyd:", err)
		return
	}
	// UDP gives everything but delays (chronyd answers ntpdata only on
	// its unix socket, chrony.DefaultSocket, which needs root).
	c, err := chrony.Dial(ctx, chrony.Options{Addr: "127.0.0.1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	peers, err := c.Peers(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range peers {
		when := "-"
		if d, ok := p.When(); ok {
			when = fmt.Sprint(int(d.Seconds()))
		}
		fmt.Printf("%c%-15s %-15s %2d %c %4s %4d %3o %7.3f %7.3f %7.3f\n", p.Tally(), p.Remote(), p.RefID(),
			p.Stratum(), p.Type(), when, int(p.Poll().Seconds()), p.Reach(),
			p.Delay()*1e3, p.Offset()*1e3, p.Jitter()*1e3)
	}
	st, err := c.Status(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	if st.Synchronised {
		fmt.Printf("synchronised to %s (%s) at stratum %d\n", st.Kind, st.Source, st.Stratum)
		fmt.Printf("   time correct to within %.0f ms\n", st.Accuracy()*1e3)
		fmt.Printf("   polling server every %d s\n", int(chrony.PollInterval(st.PollLog2).Seconds()))
	}
}
