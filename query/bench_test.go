package query_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/query"
)

// BenchmarkPeers measures `ntpq -p` end to end against the in-process fake
// daemon: READSTAT, one READVAR per association (11, two fragments each),
// reverse lookups from a table, and the classic rendering.
func BenchmarkPeers(b *testing.B) {
	fx := startFixture(b, "ntpsec-main-0222")
	for _, style := range []query.Style{query.StyleClassic, query.StyleNTPsec} {
		name := map[query.Style]string{query.StyleClassic: "classic", query.StyleNTPsec: "ntpsec"}[style]
		b.Run(name, func(b *testing.B) {
			in := query.New(query.Config{Style: style,
				Client:   query.ClientOptions{Dialer: fx.Dialer, FirstTimeout: time.Second, FragTimeout: time.Second},
				Resolver: query.StaticResolver(fx.Names), Clock: clock.Fixed(fx.Now), Stdout: io.Discard, Stderr: io.Discard})
			ctx := context.Background()
			if err := in.Open(ctx, "localhost"); err != nil {
				b.Fatal(err)
			}
			defer in.Close()
			b.ReportAllocs()
			for b.Loop() {
				in.Exec(ctx, "peers")
			}
		})
	}
}

// BenchmarkRenderPeers measures the rendering alone (model already fetched).
func BenchmarkRenderPeers(b *testing.B) {
	fx := startFixture(b, "ntpsec-main-0222")
	s, err := query.Dial(context.Background(), "udp", "localhost", query.ClientOptions{Dialer: fx.Dialer})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m, err := query.FetchPeers(context.Background(), s, false)
	if err != nil {
		b.Fatal(err)
	}
	o := query.RenderOptions{Names: query.Names(fx.Names), Now: fx.Now}
	b.ReportAllocs()
	for b.Loop() {
		query.ClassicPeers(io.Discard, m, query.KindPeers, o, 0)
	}
}
