package ntpconf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Limits applied when the Options fields are zero.
const (
	DefaultMaxIncludeDepth = 5   // nesting of includefile (ntpd: 5)
	DefaultMaxIncludes     = 100 // includefile lines followed in total
	DefaultMaxErrors       = 100 // errors collected before giving up
	MaxLineLength          = 64 << 10
)

// Options control parsing. The zero value reads include files from the
// operating system's file system.
type Options struct {
	// FS, if set, is used to open include files (and the file of
	// ParseFile). Names are cleaned and a leading "/" is removed, so
	// testing/fstest.MapFS works with absolute and relative names.
	FS fs.FS
	// Open, if set (and FS is nil), opens include files.
	Open func(name string) (io.ReadCloser, error)
	// MaxIncludeDepth bounds includefile nesting (DefaultMaxIncludeDepth).
	MaxIncludeDepth int
	// MaxIncludes bounds the number of includefile lines followed in total.
	MaxIncludes int
	// MaxErrors bounds the number of errors collected (DefaultMaxErrors).
	MaxErrors int
}

// Parse parses the configuration read from r; name is used in messages and
// as the base for relative includefile paths. Include files are read from
// the operating system's file system.
//
// On bad lines Parse returns the Config built from the good lines together
// with an ErrorList holding every error. Unknown directives are warnings
// (Config.Warnings), not errors.
func Parse(name string, r io.Reader) (*Config, error) { return Options{}.Parse(name, r) }

// ParseFile opens and parses the file at path. A missing file is reported
// with an error that matches errors.Is(err, fs.ErrNotExist).
func ParseFile(path string) (*Config, error) { return Options{}.ParseFile(path) }

// ParseFile is ParseFile with options.
func (o Options) ParseFile(name string) (*Config, error) {
	rc, err := o.open(name)
	if err != nil {
		return nil, fmt.Errorf("ntpconf: %w", err)
	}
	defer rc.Close()
	return o.Parse(name, rc)
}

// Parse is Parse with options.
func (o Options) Parse(name string, r io.Reader) (*Config, error) {
	if o.MaxIncludeDepth <= 0 {
		o.MaxIncludeDepth = DefaultMaxIncludeDepth
	}
	if o.MaxIncludes <= 0 {
		o.MaxIncludes = DefaultMaxIncludes
	}
	if o.MaxErrors <= 0 {
		o.MaxErrors = DefaultMaxErrors
	}
	p := &parser{opts: o, cfg: NewConfig(), seen: map[string]Pos{}, fudgeIdx: map[string]int{}}
	p.file(name, r)
	p.finish()
	if len(p.errs) > 0 {
		return p.cfg, p.errs
	}
	return p.cfg, nil
}

func (o Options) open(name string) (io.ReadCloser, error) {
	switch {
	case o.FS != nil:
		n := strings.TrimPrefix(path.Clean(filepath.ToSlash(name)), "/")
		if n == "" {
			n = "."
		}
		return o.FS.Open(n)
	case o.Open != nil:
		return o.Open(name)
	}
	return os.Open(name)
}

type parser struct {
	opts     Options
	cfg      *Config
	errs     ErrorList
	stack    []string // include chain, top level first
	includes int
	stopped  bool
	seen     map[string]Pos // duplicate detection
	fudgeIdx map[string]int // refclock address -> index in cfg.Fudges
}

func (p *parser) errorf(pos Pos, format string, args ...any) {
	if p.stopped {
		return
	}
	if len(p.errs) >= p.opts.MaxErrors {
		p.errs = append(p.errs, Diag{pos, fmt.Sprintf("too many errors (%d), giving up", len(p.errs))})
		p.stopped = true
		return
	}
	p.errs = append(p.errs, Diag{pos, fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(pos Pos, format string, args ...any) {
	if len(p.cfg.Warnings) < 10*p.opts.MaxErrors {
		p.cfg.Warnings = append(p.cfg.Warnings, Diag{pos, fmt.Sprintf(format, args...)})
	}
}

// file parses one file (the top level one or an include).
func (p *parser) file(name string, r io.Reader) {
	p.stack = append(p.stack, name)
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()
	p.cfg.Files = append(p.cfg.Files, name)

	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLineLength)
	n := 0
	for sc.Scan() && !p.stopped {
		n++
		p.line(Pos{name, n}, sc.Text())
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			p.errorf(Pos{name, n + 1}, "line too long: expected at most %d bytes, rest of file skipped", MaxLineLength)
		} else {
			p.errorf(Pos{name, n + 1}, "read error: %v", err)
		}
	}
}

func (p *parser) line(pos Pos, text string) {
	toks, err := splitLine(text)
	if err != nil {
		p.errorf(pos, "%v", err)
		return
	}
	if len(toks) == 0 {
		return
	}
	d := toks[0]
	if d.quoted {
		p.errorf(pos, "expected a directive name, got quoted string %q", d.s)
		return
	}
	h, ok := directives[d.s]
	if !ok {
		if notSupported[d.s] {
			p.warnf(pos, "%s: directive of ntpd not supported by ntpkit, ignored", d.s)
		} else {
			p.warnf(pos, "unknown directive %q, ignored", d.s)
		}
		return
	}
	c := &cursor{dir: d.s, args: toks[1:]}
	if err := h(p, pos, c); err != nil {
		p.errorf(pos, "%v", err)
	}
}

// finish runs checks that need the whole configuration.
func (p *parser) finish() {
	clocks := map[string]bool{}
	for _, s := range p.cfg.Servers {
		if s.IsRefclock {
			clocks[s.Address] = true
		}
	}
	for _, f := range p.cfg.Fudges {
		if !clocks[f.Address] {
			p.warnf(f.Pos, "fudge: refclock %s is not configured by a server line", f.Address)
		}
	}
}

// notSupported are ntpd directives ntpkit recognises but ignores.
var notSupported = map[string]bool{
	"automax": true, "broadcast": true, "broadcastclient": true, "broadcastdelay": true,
	"crypto": true, "ident": true, "leapsmearinterval": true, "logconfig": true,
	"manycastclient": true, "manycastserver": true, "mdnstries": true, "mru": true,
	"multicastclient": true, "nonvolatile": true, "ntpsigndsocket": true, "phone": true,
	"pidfile": true, "pollskewlist": true, "reset": true, "revoke": true, "rlimit": true,
	"saveconfigdir": true, "setvar": true, "tinker": true, "trap": true, "ttl": true,
	"unpeer": true, "unrestrict": true, "unconfig": true, "dscp": true, "serverresponse": true,
}
