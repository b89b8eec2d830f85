//go:build gendocs

package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func init() {
	extraCommands = append(extraCommands, newGendocsCmd)
}

// docsDate is the date printed in the man pages unless SOURCE_DATE_EPOCH
// says otherwise. A constant keeps `make docs` reproducible; bump it when
// the pages change meaningfully.
var docsDate = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// Generated-file locations, relative to the gendocs output directory (the
// repository root for `make docs`).
const (
	manDir         = "docs/man"
	completionsDir = "completions"
)

// completionShells names, per shell, the completion file for a program.
var completionShells = []struct {
	shell string
	file  func(prog string) string
	gen   func(c *cobra.Command, w io.Writer) error
}{
	{"bash", func(p string) string { return p }, func(c *cobra.Command, w io.Writer) error { return c.GenBashCompletionV2(w, true) }},
	{"zsh", func(p string) string { return "_" + p }, func(c *cobra.Command, w io.Writer) error { return c.GenZshCompletion(w) }},
	{"fish", func(p string) string { return p + ".fish" }, func(c *cobra.Command, w io.Writer) error { return c.GenFishCompletion(w, true) }},
	{"powershell", func(p string) string { return p + ".ps1" }, func(c *cobra.Command, w io.Writer) error { return c.GenPowerShellCompletionWithDesc(w) }},
}

func newGendocsCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:    "gendocs DIR",
		Short:  "generate man pages (DIR/docs/man) and shell completions (DIR/completions)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			date, err := manDate(env.Getenv)
			if err != nil {
				return err
			}
			files, err := generateDocs(date)
			if err != nil {
				return err
			}
			if err := writeDocs(args[0], files); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d files under %s\n", len(files), args[0])
			return nil
		},
	}
}

// manDate is SOURCE_DATE_EPOCH when set, else docsDate.
func manDate(getenv func(string) string) (time.Time, error) {
	s := getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return docsDate, nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

func appletSection(a applet) string {
	if a.name == "ntpd" {
		return "8"
	}
	return "1"
}

// generateDocs renders every man page and completion script, keyed by path
// relative to the output directory.
func generateDocs(date time.Time) (map[string][]byte, error) {
	files := map[string][]byte{}

	root := newRootCmd(docsEnv("ntpkit"))
	var see []string
	for _, a := range applets() {
		see = append(see, fmt.Sprintf("%s(%s)", a.name, appletSection(a)))
		// documented in their own pages under their own names
		for _, c := range root.Commands() {
			if c.Name() == a.command {
				c.Hidden = true
			}
		}
	}
	root.Long += "\n\nThe personalities are documented in " + strings.Join(see, ", ") + "."
	if err := manTree(files, root, "1", date); err != nil {
		return nil, err
	}
	progs := []*cobra.Command{newRootCmd(docsEnv("ntpkit"))}
	for _, a := range applets() {
		if err := manTree(files, appletRoot(a), appletSection(a), date); err != nil {
			return nil, err
		}
		progs = append(progs, appletRoot(a))
	}

	for _, prog := range progs {
		for _, sh := range completionShells {
			var b bytes.Buffer
			if err := sh.gen(prog, &b); err != nil {
				return nil, fmt.Errorf("%s completion for %s: %w", sh.shell, prog.Name(), err)
			}
			files[filepath.Join(completionsDir, sh.shell, sh.file(prog.Name()))] = b.Bytes()
		}
	}
	return files, nil
}

// manTree renders cmd and its visible descendants, cobra style
// (ntpkit-install-links.1), without the auto-generated tag.
func manTree(files map[string][]byte, cmd *cobra.Command, section string, date time.Time) error {
	for _, c := range cmd.Commands() {
		if !c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand() {
			continue
		}
		if err := manTree(files, c, section, date); err != nil {
			return err
		}
	}
	cmd.DisableAutoGenTag = true
	hdr := &doc.GenManHeader{Section: section, Date: &date, Source: "ntpkit", Manual: "ntpkit manual"}
	var b bytes.Buffer
	if err := doc.GenMan(cmd, hdr, &b); err != nil {
		return fmt.Errorf("man page for %s: %w", cmd.CommandPath(), err)
	}
	name := strings.ReplaceAll(cmd.CommandPath(), " ", "-") + "." + section
	files[filepath.Join(manDir, name)] = b.Bytes()
	return nil
}

// writeDocs replaces the generated files under dir: stale man pages (*.1,
// *.8) and completion scripts from earlier runs are removed first.
func writeDocs(dir string, files map[string][]byte) error {
	stale, _ := filepath.Glob(filepath.Join(dir, manDir, "*.[18]"))
	for _, sh := range completionShells {
		m, _ := filepath.Glob(filepath.Join(dir, completionsDir, sh.shell, "*"))
		stale = append(stale, m...)
	}
	for _, f := range stale {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	for rel, data := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
