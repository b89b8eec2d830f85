package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ntpkit/ntpkit/internal/testenv"
)

// run calls Main in-process with args (args[0] is the invocation name) and
// the given environment variables.
func run(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{
		Args: args, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return vars[k] },
	}
	code = Main(env)
	return code, out.String(), errb.String()
}

// flagSig describes a command's flags and subcommands, everything but its
// own name, so two builds of one applet can be compared.
func flagSig(c *cobra.Command) string {
	var b strings.Builder
	use := c.Use
	if _, rest, ok := strings.Cut(use, " "); ok {
		use = rest
	} else {
		use = ""
	}
	fmt.Fprintf(&b, "use=%q short=%q args=%v noparse=%v\n", use, c.Short, c.Args != nil, c.DisableFlagParsing)
	for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.PersistentFlags()} {
		fs.VisitAll(func(f *pflag.Flag) {
			fmt.Fprintf(&b, "  -%s --%s %s=%q hidden=%v %q\n", f.Shorthand, f.Name, f.Value.Type(), f.DefValue, f.Hidden, f.Usage)
		})
		b.WriteString("  --\n")
	}
	subs := c.Commands()
	sort.Slice(subs, func(i, j int) bool { return subs[i].Name() < subs[j].Name() })
	for _, s := range subs {
		fmt.Fprintf(&b, "sub %s {\n%s}\n", s.Name(), flagSig(s))
	}
	return b.String()
}

// The symlink personality and the ntpkit subcommand are built by one
// constructor: same flags, same subcommands.
func TestAppletTreesIdentical(t *testing.T) {
	root := newRootCmd(docsEnv("ntpkit"))
	for _, a := range applets() {
		sub, _, err := root.Find([]string{a.command})
		if err != nil || sub.Name() != a.command {
			t.Errorf("ntpkit %s: not found (%v)", a.command, err)
			continue
		}
		if alias, _, err := root.Find([]string{a.name}); err != nil || alias != sub {
			t.Errorf("ntpkit %s is not an alias of ntpkit %s", a.name, a.command)
		}
		personality := appletRoot(a)
		if personality.Name() != a.name {
			t.Errorf("%s personality is named %q", a.name, personality.Name())
		}
		if got, want := flagSig(personality), flagSig(sub); got != want {
			t.Errorf("%s and ntpkit %s differ:\n--- %s\n%s\n--- ntpkit %s\n%s", a.name, a.command, a.name, got, a.command, want)
		}
	}
}

// completions lists what cobra completes for args (through the hidden
// __complete command), which exercises the whole Main dispatch.
func completions(t *testing.T, vars map[string]string, args ...string) string {
	t.Helper()
	code, out, errOut := run(t, vars, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	return out
}

func TestPersonalityByArgv0(t *testing.T) {
	for _, a := range applets() {
		// cobra's automatic -h names the command: "help for daemon" vs "help for ntpd"
		want := strings.ReplaceAll(completions(t, nil, "ntpkit", "__complete", a.command, "-"),
			"help for "+a.command, "help for "+a.name)
		for _, argv0 := range []string{a.name, "/usr/sbin/" + a.name, "./" + a.name + ".exe"} {
			if got := completions(t, nil, argv0, "__complete", "-"); got != want {
				t.Errorf("argv0 %q completes differently from ntpkit %s:\n%s\nvs\n%s", argv0, a.command, got, want)
			}
		}
		if got := completions(t, nil, "ntpkit", "__complete", a.name, "-"); got != strings.ReplaceAll(want, "help for "+a.name, "help for "+a.command) {
			t.Errorf("ntpkit %s (alias) completes differently from ntpkit %s", a.name, a.command)
		}
		// NTPKIT_APPLET overrides the invocation name
		if got := completions(t, map[string]string{personalityEnv: a.name}, "ntpkit", "__complete", "-"); got != want {
			t.Errorf("%s=%s: got\n%s\nwant\n%s", personalityEnv, a.name, got, want)
		}
	}
	// any name starting with ntpkit is the multi-call root
	root := completions(t, nil, "ntpkit", "__complete", "")
	for _, argv0 := range []string{"/usr/bin/ntpkit", "ntpkit-1.2", "ntpkit.exe"} {
		if got := completions(t, nil, argv0, "__complete", ""); got != root {
			t.Errorf("argv0 %q is not the ntpkit root:\n%s", argv0, got)
		}
	}
	for _, a := range applets() {
		if !strings.Contains(root, a.command+"\t") {
			t.Errorf("ntpkit does not offer subcommand %s:\n%s", a.command, root)
		}
	}
}

func TestList(t *testing.T) {
	code, out, errOut := run(t, nil, "ntpkit", "--list")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if want := "ntpq\nntpstat\nntpdate\nntpd\n"; out != want {
		t.Errorf("--list = %q, want %q", out, want)
	}
}

func TestUnknownApplet(t *testing.T) {
	tests := []struct {
		vars map[string]string
		args []string
	}{
		{nil, []string{"ntpfoo"}},
		{nil, []string{"/usr/local/bin/chronyc", "-h"}},
		{map[string]string{personalityEnv: "bogus"}, []string{"ntpkit"}},
	}
	for _, tc := range tests {
		code, out, errOut := run(t, tc.vars, tc.args...)
		if code != 127 {
			t.Errorf("%v %v: exit %d, want 127", tc.vars, tc.args, code)
		}
		if out != "" || !strings.Contains(errOut, "applet not found") || !strings.Contains(errOut, "ntpq, ntpstat, ntpdate, ntpd") {
			t.Errorf("%v: stdout %q stderr %q", tc.args, out, errOut)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, nil, "ntpkit", "version")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "ntpkit ") ||
		!strings.HasPrefix(lines[1], "commit ") || !strings.HasPrefix(lines[2], "go1.") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
	if code, _, _ := run(t, nil, "ntpkit", "version", "extra"); code == 0 {
		t.Error("version accepted an argument")
	}
}

// The ldflags the Makefile and goreleaser use really stamp the version.
func TestVersionLdflags(t *testing.T) {
	testenv.Need(t, "go")
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "ntpkit")
	const pkg = "github.com/ntpkit/ntpkit/cmd/ntpkit/cli"
	build := exec.Command("go", "build", "-o", exe,
		"-ldflags", "-X "+pkg+".version=v9.8.7 -X "+pkg+".commit=abc123", "./cmd/ntpkit")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(exe, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "ntpkit v9.8.7\ncommit abc123\n") {
		t.Errorf("version: %v\n%s", err, out)
	}
}

func TestInstallLinks(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, nil, "ntpkit", "install-links", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, a := range applets() {
		link := filepath.Join(dir, a.name)
		target, err := os.Readlink(link)
		if err != nil || target != self {
			t.Errorf("%s -> %q (%v), want %s", link, target, err, self)
		}
		if !strings.Contains(out, link+" -> "+self) {
			t.Errorf("output does not mention %s:\n%s", link, out)
		}
	}
	if code, _, errOut := run(t, nil, "ntpkit", "install-links", dir); code == 0 || !strings.Contains(errOut, "exists") {
		t.Errorf("second install without --force: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, nil, "ntpkit", "install-links", "--force", dir); code != 0 {
		t.Errorf("install --force: exit %d, %s", code, errOut)
	}
	if code, _, _ := run(t, nil, "ntpkit", "install-links"); code == 0 {
		t.Error("install-links without DIR succeeded")
	}
}

// End to end with the real binary: symlinks made by install-links act as
// the personalities, and an unknown name exits 127.
func TestSymlinksEndToEnd(t *testing.T) {
	exe := testenv.BuildNtpkit(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "ntpkit")
	if err := os.Symlink(exe, bin); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "install-links", dir).CombinedOutput(); err != nil {
		t.Fatalf("install-links: %v\n%s", err, out)
	}
	for _, a := range applets() {
		want, err := exec.Command(bin, "__complete", a.command, "-").Output()
		if err != nil {
			t.Fatalf("ntpkit __complete %s: %v", a.command, err)
		}
		want = bytes.ReplaceAll(want, []byte("help for "+a.command), []byte("help for "+a.name))
		got, err := exec.Command(filepath.Join(dir, a.name), "__complete", "-").Output()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s symlink: %v\n%s\nwant\n%s", a.name, err, got, want)
		}
	}
	bogus := filepath.Join(dir, "ntpfoo")
	if err := os.Symlink(exe, bogus); err != nil {
		t.Fatal(err)
	}
	err := exec.Command(bogus).Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 127 {
		t.Errorf("ntpfoo: %v, want exit 127", err)
	}
}
