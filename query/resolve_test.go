package query_test

import (
	"context"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/query"
)

type slowResolver struct{ names map[string]string }

func (s slowResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	if addr == "192.0.2.99" {
		<-ctx.Done() // never answers in time
		return nil, ctx.Err()
	}
	return []string{s.names[addr] + "."}, nil
}

func TestResolveAll(t *testing.T) {
	r := slowResolver{names: map[string]string{"192.0.2.1": "a.example", "2001:db8::1": "b.example"}}
	got := query.ResolveAll(context.Background(), r,
		[]string{"192.0.2.1", "2001:db8::1", "192.0.2.99", "0.0.0.0", "127.127.1.0", "not-an-address", "192.0.2.1"}, 200*time.Millisecond)
	want := query.Names{"192.0.2.1": "a.example", "2001:db8::1": "b.example"}
	if len(got) != len(want) || got["192.0.2.1"] != "a.example" || got["2001:db8::1"] != "b.example" {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := query.ResolveAll(context.Background(), nil, []string{"192.0.2.1"}, time.Second); len(got) != 0 {
		t.Errorf("nil resolver: %v", got)
	}
}
