package ntpconf

import (
	"errors"
	"fmt"
	"strconv"
)

// token is one word of a configuration line.
type token struct {
	s      string
	quoted bool // written as "..." (never a keyword or a number)
}

// errUnterminated is returned by splitLine for a quote without its end.
var errUnterminated = errors.New("unterminated quoted string: expected a closing \"")

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

// splitLine splits one line into tokens. '#' outside a quoted string starts
// a comment; a double quote starts a string that runs to the next double
// quote (no escapes, as in ntpd).
func splitLine(line string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(line) {
		c := line[i]
		switch {
		case isSpace(c):
			i++
		case c == '#':
			return toks, nil
		case c == '"':
			j := i + 1
			for j < len(line) && line[j] != '"' {
				j++
			}
			if j == len(line) {
				return toks, errUnterminated
			}
			toks = append(toks, token{s: line[i+1 : j], quoted: true})
			i = j + 1
		default:
			j := i
			for j < len(line) && !isSpace(line[j]) && line[j] != '#' && line[j] != '"' {
				j++
			}
			toks = append(toks, token{s: line[i:j]})
			i = j
		}
	}
	return toks, nil
}

// cursor walks the arguments of one line.
type cursor struct {
	dir  string // directive name
	args []token
	i    int
}

func (c *cursor) peek() *token {
	if c.i < len(c.args) {
		return &c.args[c.i]
	}
	return nil
}

func (c *cursor) next() *token {
	t := c.peek()
	if t != nil {
		c.i++
	}
	return t
}

func (c *cursor) more() bool { return c.i < len(c.args) }

// got describes a token for an error message.
func got(t *token) string {
	if t == nil {
		return "end of line"
	}
	return strconv.Quote(t.s)
}

// keyword returns the next token if it is an unquoted word.
func (c *cursor) keyword() (string, bool) {
	t := c.peek()
	if t == nil || t.quoted {
		return "", false
	}
	return t.s, true
}

func (c *cursor) intArg(name string, lo, hi int) (int, error) {
	t := c.next()
	if t != nil && !t.quoted {
		if n, err := strconv.Atoi(t.s); err == nil && n >= lo && n <= hi {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: expected an integer %d..%d, got %s", name, lo, hi, got(t))
}

func (c *cursor) floatArg(name string, lo, hi float64) (float64, error) {
	t := c.next()
	if t != nil && !t.quoted {
		if f, err := strconv.ParseFloat(t.s, 64); err == nil && f >= lo && f <= hi {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%s: expected a number %g..%g, got %s", name, lo, hi, got(t))
}

func (c *cursor) boolArg(name string) (bool, error) {
	t := c.next()
	if t != nil && !t.quoted {
		switch t.s {
		case "0":
			return false, nil
		case "1":
			return true, nil
		}
	}
	return false, fmt.Errorf("%s: expected 0 or 1, got %s", name, got(t))
}

// strArg returns the next token (quoted or not) as a string; what names
// the expected value in the error ("a file name").
func (c *cursor) strArg(name, what string) (string, error) {
	t := c.next()
	if t == nil || t.s == "" {
		return "", fmt.Errorf("%s: expected %s, got %s", name, what, got(t))
	}
	return t.s, nil
}

// end reports extra arguments.
func (c *cursor) end() error {
	if t := c.peek(); t != nil {
		return fmt.Errorf("%s: unexpected extra argument %s, expected end of line", c.dir, got(t))
	}
	return nil
}
