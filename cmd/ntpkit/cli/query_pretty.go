package cli

import (
	"fmt"
	"io"
	"strconv"

	"github.com/fatih/color"
	"github.com/olekukonko/tablewriter"

	"github.com/ntpkit/ntpkit/query"
)

// prettyPeers returns the --pretty peers renderer: a boxed table, with
// colours when mode is "always", or "auto" on a terminal without NO_COLOR.
func prettyPeers(env *Env, mode string, tty bool) func(io.Writer, *query.PeersModel, query.PeersKind, query.RenderOptions) {
	useColor := mode == "always" || (mode == "auto" && tty && env.Getenv("NO_COLOR") == "")
	return func(w io.Writer, m *query.PeersModel, kind query.PeersKind, o query.RenderOptions) {
		renderPretty(w, m, kind, o, useColor)
	}
}

func renderPretty(w io.Writer, m *query.PeersModel, kind query.PeersKind, o query.RenderOptions, useColor bool) {
	doc := query.PeersJSON("peers", m, o)
	paint := func(c *color.Color, s string) string {
		if !useColor {
			return s
		}
		c.EnableColor()
		return c.Sprint(s)
	}
	green := color.New(color.FgGreen, color.Bold)
	cyan := color.New(color.FgCyan)
	yellow := color.New(color.FgYellow)
	red := color.New(color.FgRed)
	faint := color.New(color.Faint)

	L, R := tablewriter.ALIGN_LEFT, tablewriter.ALIGN_RIGHT
	t := tablewriter.NewWriter(w)
	t.SetAutoFormatHeaders(false)
	t.SetAutoWrapText(false) // a peer row stays one line, like ntpq -w
	t.SetHeaderAlignment(tablewriter.ALIGN_CENTER)
	t.SetColumnAlignment([]int{L, L, L, R, R, L, R, R, R, R, R, R})
	third := "refid"
	if kind == query.KindOpeers {
		third = "local"
	}
	t.SetHeader([]string{"", "remote", third, "assid", "st", "t", "when", "poll", "reach", "delay ms", "offset ms", "jitter ms"})
	ms := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatFloat(*p, 'f', 3, 64)
	}
	for _, p := range doc.Peers {
		tally := p.Tally
		switch p.Tally {
		case "*", "o":
			tally = paint(green, tally)
		case "+", "#":
			tally = paint(cyan, tally)
		case "x", "-", ".":
			tally = paint(red, tally)
		}
		remote := p.Remote
		if p.Tally == "*" {
			remote = paint(green, remote)
		}
		ref := p.RefID
		if kind == query.KindOpeers {
			ref = p.DstAddr
		}
		when := "-"
		if p.WhenSeconds != nil {
			when = strconv.FormatInt(*p.WhenSeconds, 10)
		}
		reach := fmt.Sprintf("%03o", p.Reach)
		switch {
		case p.Reach == 0xff:
			reach = paint(green, reach)
		case p.Reach == 0:
			reach = paint(red, reach)
		default:
			reach = paint(yellow, reach)
		}
		last := p.JitterMS
		if kind == query.KindOpeers {
			last = p.DispMS
		}
		t.Append([]string{tally, remote, paint(faint, ref), strconv.Itoa(int(p.AssocID)), strconv.FormatInt(p.Stratum, 10),
			p.Type, when, strconv.FormatInt(p.PollSeconds, 10), reach, ms(p.DelayMS), ms(p.OffsetMS), ms(last)})
	}
	t.Render()
}
