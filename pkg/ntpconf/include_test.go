package ntpconf

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

func TestInclude(t *testing.T) {
	fsys := mapFS(map[string]string{
		"etc/ntp.conf":            "server 192.0.2.1\nincludefile ntp.d/a.conf\nserver 192.0.2.9\n",
		"etc/ntp.d/a.conf":        "server 192.0.2.2\nincludefile sub/b.conf\n",
		"etc/ntp.d/sub/b.conf":    "restrict default noquery\nincludefile /etc/abs.conf\nbogus\n",
		"etc/abs.conf":            "tos maxclock 4\n",
		"etc/ntp.d/quoted x.conf": "driftfile /x\n",
	})
	opts := Options{FS: fsys}
	c, err := opts.ParseFile("/etc/ntp.conf")
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, s := range c.Servers {
		addrs = append(addrs, s.Address+"@"+s.Pos.String())
	}
	want := []string{"192.0.2.1@/etc/ntp.conf:1", "192.0.2.2@/etc/ntp.d/a.conf:1", "192.0.2.9@/etc/ntp.conf:3"}
	if !reflect.DeepEqual(addrs, want) {
		t.Errorf("servers %v, want %v", addrs, want)
	}
	if c.Tos.MaxClock != 4 || len(c.Restrictions) != 1 {
		t.Errorf("included settings missing: %+v", c)
	}
	wantFiles := []string{"/etc/ntp.conf", "/etc/ntp.d/a.conf", "/etc/ntp.d/sub/b.conf", "/etc/abs.conf"}
	if !reflect.DeepEqual(c.Files, wantFiles) {
		t.Errorf("files %v, want %v", c.Files, wantFiles)
	}
	if len(c.Warnings) != 1 || c.Warnings[0].String() != `/etc/ntp.d/sub/b.conf:3: unknown directive "bogus", ignored` {
		t.Errorf("warnings %v", c.Warnings)
	}

	// Relative top-level name, quoted include name with a space.
	c, err = opts.Parse("etc/ntp.d/top.conf", strings.NewReader(`includefile "quoted x.conf"`))
	if err != nil || c.DriftFile != "/x" {
		t.Errorf("quoted include: %v %q", err, c.DriftFile)
	}
}

func TestIncludeErrors(t *testing.T) {
	tests := []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{"ntp.conf": "includefile ntp.conf"},
			`ntp.conf:1: includefile: expected no include cycle, got ntp.conf -> ntp.conf`},
		{map[string]string{"ntp.conf": "server 192.0.2.1\nincludefile a.conf", "a.conf": "\nincludefile b.conf", "b.conf": "includefile a.conf"},
			`b.conf:1: includefile: expected no include cycle, got a.conf -> b.conf -> a.conf`},
		{map[string]string{"ntp.conf": "includefile d/x.conf", "d/x.conf": "includefile ../ntp.conf"},
			`d/x.conf:1: includefile: expected no include cycle, got ntp.conf -> d/x.conf -> ntp.conf`},
		{map[string]string{"ntp.conf": "includefile missing.conf"},
			`ntp.conf:1: includefile: cannot open missing.conf: open missing.conf: file does not exist`},
		{map[string]string{"ntp.conf": "includefile 1.conf", "1.conf": "includefile 2.conf", "2.conf": "includefile 3.conf",
			"3.conf": "includefile 4.conf", "4.conf": "includefile 5.conf", "5.conf": "includefile 6.conf", "6.conf": "server 192.0.2.1"},
			`5.conf:1: includefile: 6.conf: expected at most 5 nested include levels`},
		{map[string]string{"ntp.conf": "includefile a.conf extra"},
			`ntp.conf:1: includefile: unexpected extra argument "extra", expected end of line`},
		{map[string]string{"ntp.conf": "includefile a.conf", "a.conf": "server 192.0.2.1 minpoll 99"},
			`a.conf:1: minpoll: expected an integer 3..17, got "99"`},
	}
	for _, tt := range tests {
		_, err := Options{FS: mapFS(tt.files)}.ParseFile("ntp.conf")
		if err == nil || err.Error() != tt.want {
			t.Errorf("%v:\n got  %v\n want %s", tt.files, err, tt.want)
		}
	}
}

func TestIncludeTotalBound(t *testing.T) {
	// A include fan-out without cycles must stay bounded.
	files := map[string]string{}
	for _, n := range []string{"ntp.conf", "a", "b", "c", "d"} {
		next := map[string]string{"ntp.conf": "a", "a": "b", "b": "c", "c": "d", "d": "e"}[n]
		files[n] = strings.Repeat("includefile "+next+"\n", 10)
	}
	files["e"] = "server 192.0.2.1\n"
	_, err := Options{FS: mapFS(files), MaxIncludes: 50}.ParseFile("ntp.conf")
	var list ErrorList
	if !errors.As(err, &list) || !strings.Contains(list[0].Msg, "expected at most 50 includes in total") {
		t.Fatalf("err = %v", err)
	}
}

type rc struct{ io.Reader }

func (rc) Close() error { return nil }

func TestIncludeOpener(t *testing.T) {
	var opened []string
	opts := Options{Open: func(name string) (io.ReadCloser, error) {
		opened = append(opened, name)
		return rc{strings.NewReader("server 192.0.2.5")}, nil
	}}
	c, err := opts.Parse("/etc/ntp.conf", strings.NewReader("includefile conf.d/x.conf"))
	if err != nil || len(c.Servers) != 1 {
		t.Fatal(err, c)
	}
	if !reflect.DeepEqual(opened, []string{"/etc/conf.d/x.conf"}) {
		t.Errorf("opened %v", opened)
	}
}
