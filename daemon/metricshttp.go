package daemon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The metrics endpoint is a deliberately tiny HTTP/1.x responder rather than
// net/http: the daemon is the same binary as ntpq, ntpstat and ntpdate, and
// linking net/http (with crypto/tls, x509, mime and gzip) added about 2.4 ms
// to every tool's start-up on the reference machine, while a scraper needs
// nothing but "GET /metrics" answered with one body and the connection closed.

const (
	metricsMaxHeader   = 8 << 10         // request line and headers
	metricsReadTimeout = 5 * time.Second // slow clients are dropped
	metricsMaxConns    = 16              // concurrent scrapes served
)

// metricsRequest is the part of an HTTP request the endpoint looks at.
type metricsRequest struct {
	method, path string
}

// errHeaderTooLarge means the request did not end its header within
// metricsMaxHeader bytes.
var errHeaderTooLarge = errors.New("request header too large")

// readMetricsRequest reads one request's line and headers (a body is never
// expected: only GET and HEAD are served) and returns the method and path.
func readMetricsRequest(r *bufio.Reader) (metricsRequest, error) {
	var req metricsRequest
	n := 0
	first := true
	for {
		line, err := r.ReadSlice('\n')
		n += len(line)
		if n > metricsMaxHeader || errors.Is(err, bufio.ErrBufferFull) {
			return req, errHeaderTooLarge
		}
		if err != nil {
			return req, fmt.Errorf("reading request: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if first {
			first = false
			parts := strings.Fields(string(line))
			if len(parts) != 3 || !strings.HasPrefix(parts[2], "HTTP/1.") {
				return req, fmt.Errorf("malformed request line %q", truncate(string(line), 64))
			}
			req.method, req.path = parts[0], parts[1]
			if i := strings.IndexByte(req.path, '?'); i >= 0 {
				req.path = req.path[:i]
			}
			continue
		}
		if len(line) == 0 {
			return req, nil
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// writeMetricsResponse answers req; body renders the exposition text.
func writeMetricsResponse(w io.Writer, req metricsRequest, body func(io.Writer)) error {
	status, ctype := "200 OK", "text/plain; version=0.0.4; charset=utf-8"
	var buf bytes.Buffer
	extra := ""
	switch {
	case req.method != "GET" && req.method != "HEAD":
		status, ctype = "405 Method Not Allowed", "text/plain; charset=utf-8"
		extra = "Allow: GET, HEAD\r\n"
		buf.WriteString("method not allowed\n")
	case req.path != "/metrics":
		status, ctype = "404 Not Found", "text/plain; charset=utf-8"
		buf.WriteString("not found: try /metrics\n")
	default:
		body(&buf)
	}
	hdr := "HTTP/1.1 " + status + "\r\nContent-Type: " + ctype + "\r\n" + extra +
		"Content-Length: " + strconv.Itoa(buf.Len()) + "\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(w, hdr); err != nil {
		return err
	}
	if req.method == "HEAD" {
		return nil
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// serveMetrics accepts scrapes on ln until ctx ends, each connection
// answering one request and closing.
func serveMetrics(ctx context.Context, ln net.Listener, body func(io.Writer), log *slog.Logger) {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	slots := make(chan struct{}, metricsMaxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// A failed accept (out of descriptors, say) is passing: wait
			// and retry, as net/http does, rather than end the endpoint
			// for the daemon's lifetime.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Error("metrics server: accept", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		select {
		case slots <- struct{}{}:
		default:
			c.Close() // too many scrapes at once: shed, never queue
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(metricsReadTimeout))
			req, err := readMetricsRequest(bufio.NewReaderSize(c, 4096))
			if err != nil {
				if errors.Is(err, errHeaderTooLarge) {
					_, _ = io.WriteString(c, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				} else if !errors.Is(err, io.EOF) {
					_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				}
				return
			}
			_ = writeMetricsResponse(c, req, body)
		}()
	}
}
