package daemon

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadMetricsRequest(t *testing.T) {
	for _, tc := range []struct {
		name, in     string
		method, path string
		err          string
	}{
		{"plain GET", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/metrics", ""},
		{"bare newlines", "GET /metrics HTTP/1.0\n\n", "GET", "/metrics", ""},
		{"query string dropped", "HEAD /metrics?x=1 HTTP/1.1\r\n\r\n", "HEAD", "/metrics", ""},
		{"other path", "GET / HTTP/1.1\r\n\r\n", "GET", "/", ""},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", "", "", "malformed request line"},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\n", "", "", "malformed request line"},
		{"no end of header", "GET /metrics HTTP/1.1\r\nHost: x\r\n", "", "", "EOF"},
		{"huge header", "GET /metrics HTTP/1.1\r\nX: " + strings.Repeat("a", 10000) + "\r\n\r\n", "", "", "too large"},
		{"many header lines", "GET /metrics HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", 2000) + "\r\n", "", "", "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := readMetricsRequest(bufio.NewReaderSize(strings.NewReader(tc.in), 4096))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || req.method != tc.method || req.path != tc.path {
				t.Fatalf("got %+v, %v; want %s %s", req, err, tc.method, tc.path)
			}
		})
	}
}

func TestWriteMetricsResponse(t *testing.T) {
	body := func(w io.Writer) { io.WriteString(w, "ntpkit_up 1\n") }
	for _, tc := range []struct {
		req    metricsRequest
		status string
		body   string
	}{
		{metricsRequest{"GET", "/metrics"}, "200 OK", "ntpkit_up 1\n"},
		{metricsRequest{"HEAD", "/metrics"}, "200 OK", ""},
		{metricsRequest{"GET", "/"}, "404 Not Found", "not found: try /metrics\n"},
		{metricsRequest{"POST", "/metrics"}, "405 Method Not Allowed", "method not allowed\n"},
	} {
		var b bytes.Buffer
		if err := writeMetricsResponse(&b, tc.req, body); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(&b), &http.Request{Method: tc.req.method})
		if err != nil {
			t.Fatalf("%v: unparsable response: %v", tc.req, err)
		}
		got, _ := io.ReadAll(resp.Body)
		if resp.Status != tc.status || string(got) != tc.body || !resp.Close {
			t.Errorf("%v: got %q %q close=%v, want %q %q close", tc.req, resp.Status, got, resp.Close, tc.status, tc.body)
		}
	}
}

// A real HTTP client scrapes the endpoint; a silent client and a flood of
// idle connections do not stop it from answering the next scrape.
func TestServeMetricsWithClients(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		serveMetrics(ctx, ln, func(w io.Writer) { io.WriteString(w, "ntpkit_up 1\n") }, slog.New(slog.DiscardHandler))
		close(done)
	}()
	var idle []net.Conn
	for range metricsMaxConns + 4 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	// The idle connections hold every slot; closing them frees the slots
	// and a scrape gets through.
	for _, c := range idle {
		c.Close()
	}
	cl := &http.Client{Timeout: 10 * time.Second}
	var resp *http.Response
	for i := 0; i < 50; i++ {
		resp, err = cl.Get("http://" + ln.Addr().String() + "/metrics")
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ntpkit_up 1\n" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("scrape: %d %q %q", resp.StatusCode, b, resp.Header.Get("Content-Type"))
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("serveMetrics did not stop after cancel")
	}
}

func FuzzMetricsRequest(f *testing.F) {
	f.Add([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("HEAD /metrics?a HTTP/1.0\n\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := readMetricsRequest(bufio.NewReaderSize(bytes.NewReader(in), 4096))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := writeMetricsResponse(&b, req, func(w io.Writer) {}); err != nil {
			t.Fatal(err)
		}
		if _, err := http.ReadResponse(bufio.NewReader(&b), &http.Request{Method: req.method}); err != nil {
			t.Fatalf("response to %q unparsable: %v", in, err)
		}
	})
}

// failOnce is a listener whose first Accept fails as when the process is
// out of descriptors.
type failOnce struct {
	net.Listener
	failed bool
}

func (l *failOnce) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// A failed accept does not end the endpoint: the next scrape is answered.
func TestServeMetricsAcceptErrorRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		serveMetrics(ctx, &failOnce{Listener: ln}, func(w io.Writer) { io.WriteString(w, "ntpkit_up 1\n") }, slog.New(slog.DiscardHandler))
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ntpkit_up 1\n" {
		t.Fatalf("scrape after a failed accept: %d %q", resp.StatusCode, b)
	}
}
