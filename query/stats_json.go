package query

import (
	"context"
	"sort"
	"strings"
)

// JSONStat is one variable of a statistics command.
type JSONStat struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Raw   string `json:"raw"`
	Value any    `json:"value,omitempty"`
}

// JSONStats is the document of sysstats, kerninfo, iostats, monstats,
// authinfo, timerstats and pstats.
type JSONStats struct {
	View    string     `json:"view"`
	Host    string     `json:"host"`
	AssocID uint16     `json:"assid"`
	Status  JSONStatus `json:"status"`
	Stats   []JSONStat `json:"stats"`
	// Unknown lists the names the daemon does not know (UNKNOWNVAR).
	Unknown []string `json:"unknown,omitempty"`
}

// jsonStatVars is the union of the classic and NTPsec lists of a command
// (classic order first), without NTPsec's "_r" twins, with a label.
func jsonStatVars(sc *statsCmd) []statVar {
	var out []statVar
	seen := map[string]int{}
	add := func(v statVar) {
		label := strings.TrimSuffix(strings.TrimSpace(v.label), ":")
		if i, ok := seen[v.name]; ok {
			if label != "" {
				out[i].label = label
			}
			return
		}
		seen[v.name] = len(out)
		out = append(out, statVar{name: v.name, label: label, kind: v.kind})
	}
	for _, v := range sc.classic {
		add(v)
	}
	for _, v := range sc.sec {
		add(v)
	}
	for _, v := range sc.sec2 {
		add(v)
	}
	for i := range out {
		if out[i].label == "" {
			switch out[i].name {
			case "srcport":
				out[i].label = "remote port"
			case "dstport":
				out[i].label = "local port"
			}
		}
	}
	return out
}

// StatsJSON builds the document from the values a daemon sent: the
// variables in the command's order, only those sent.
func StatsJSON(cmd, host string, assoc uint16, sv *StatsValues, o RenderOptions) JSONStats {
	sc := findStatsCmd(cmd)
	kind := VarsSystem
	if sc != nil && sc.peer {
		kind = VarsPeer
	}
	doc := JSONStats{View: cmd, Host: host, AssocID: assoc, Status: statusJSON(kind, sv.Status), Stats: []JSONStat{}}
	if sc == nil {
		return doc
	}
	for _, v := range jsonStatVars(sc) {
		raw, ok := sv.Vars[v.name]
		if !ok {
			continue
		}
		doc.Stats = append(doc.Stats, JSONStat{Name: v.name, Label: v.label, Raw: raw, Value: statValue(v.name, raw, o)})
	}
	for n := range sv.Missing {
		doc.Unknown = append(doc.Unknown, n)
	}
	sort.Strings(doc.Unknown)
	return doc
}

func statValue(name, raw string, o RenderOptions) any {
	if strings.HasPrefix(raw, "0x") || strings.HasPrefix(raw, "0X") {
		if v, ok := parseUintAuto(raw); ok {
			return v
		}
	}
	return typedValue(name, raw, o)
}

func (in *Interp) statsJSON(ctx context.Context, sc *statsCmd, assoc uint16) {
	vars := jsonStatVars(sc)
	sv, err := FetchStats(ctx, in.sess, assoc, names(vars), true, nil)
	if err != nil {
		in.report(sc.name, err, assoc)
		return
	}
	_ = in.json.Encode(StatsJSON(sc.name, in.host, assoc, sv, in.renderOpts()))
}
