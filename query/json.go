package query

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// The JSON views (schema documented in docs/json.md). Every document has a
// "view" naming the command and the "host" it came from.

// JSONStatus is a decoded system or peer status word.
type JSONStatus struct {
	Word string `json:"word"` // 4 hex digits
	Text string `json:"text"` // as ntpq-classic prints it
}

// JSONPeer is one row of the peers family.
type JSONPeer struct {
	AssocID     uint16   `json:"assid"`
	Status      string   `json:"status"`
	Tally       string   `json:"tally"`
	Condition   string   `json:"condition"`
	Remote      string   `json:"remote"`
	SrcAddr     string   `json:"srcadr"`
	SrcHost     string   `json:"srchost,omitempty"`
	DstAddr     string   `json:"dstadr,omitempty"`
	RefID       string   `json:"refid"`
	Stratum     int64    `json:"stratum"`
	Type        string   `json:"type"`
	WhenSeconds *int64   `json:"when_s"` // null: never
	PollSeconds int64    `json:"poll_s"`
	Reach       uint64   `json:"reach"` // 0..255
	DelayMS     *float64 `json:"delay_ms"`
	OffsetMS    *float64 `json:"offset_ms"`
	JitterMS    *float64 `json:"jitter_ms"`
	DispMS      *float64 `json:"dispersion_ms"`
}

// JSONPeers is the document of peers/lpeers/opeers/apeers and friends.
type JSONPeers struct {
	View      string     `json:"view"`
	Host      string     `json:"host"`
	SysStatus JSONStatus `json:"system_status"`
	Peers     []JSONPeer `json:"peers"`
}

// JSONAssoc is one row of the associations listing.
type JSONAssoc struct {
	Index      int    `json:"ind"`
	AssocID    uint16 `json:"assid"`
	Status     string `json:"status"`
	Conf       bool   `json:"conf"`
	Reach      string `json:"reach"`
	Auth       string `json:"auth"`
	Condition  string `json:"condition"`
	LastEvent  string `json:"last_event"`
	EventCount uint8  `json:"event_count"`
}

// JSONAssociations is the document of associations/lassociations.
type JSONAssociations struct {
	View         string      `json:"view"`
	Host         string      `json:"host"`
	SysStatus    JSONStatus  `json:"system_status"`
	Associations []JSONAssoc `json:"associations"`
}

// JSONVar is one variable: the daemon's raw text and, when it decodes,
// a typed value.
type JSONVar struct {
	Name  string `json:"name"`
	Raw   string `json:"raw"`
	Value any    `json:"value,omitempty"`
}

// JSONReadvar is the document of readvar/rv, clockvar/cv and sysinfo.
type JSONReadvar struct {
	View      string     `json:"view"`
	Host      string     `json:"host"`
	AssocID   uint16     `json:"assid"`
	Status    JSONStatus `json:"status"`
	Variables []JSONVar  `json:"variables"`
}

// JSONError reports a failed command.
type JSONError struct {
	View    string `json:"view"`
	Host    string `json:"host"`
	Error   string `json:"error"`
	Message string `json:"message"` // the text ntpq-classic prints
}

func statusJSON(kind VarKind, w uint16) JSONStatus {
	return JSONStatus{Word: fmt.Sprintf("%04x", w), Text: StatusText(kind, w)}
}

func floatPtr(s string) *float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

// PeersJSON builds the JSON document of a peers view.
func PeersJSON(view string, m *PeersModel, o RenderOptions) JSONPeers {
	doc := JSONPeers{View: view, Host: m.Host, SysStatus: statusJSON(VarsSystem, m.SysStatus), Peers: []JSONPeer{}}
	for _, p := range m.Peers {
		pi := newPeerInfo(p.Vars)
		ps := mode6.DecodePeerStatus(p.Status)
		jp := JSONPeer{
			AssocID: p.AssocID, Status: fmt.Sprintf("%04x", p.Status), Tally: string(ps.Tally()),
			Condition: mode6.Condition(ps.Select), SrcAddr: pi.srcadr, SrcHost: pi.srchost,
			DstAddr: pi.dstadr, RefID: pi.refid, Stratum: pi.stratum, Type: string(classicType(pi)),
			PollSeconds: int64(1) << pi.pollExp(), Reach: pi.reach & 0xff,
			DelayMS: floatPtr(pi.delay), OffsetMS: floatPtr(pi.offset), JitterMS: floatPtr(pi.jitter),
			DispMS: floatPtr(pi.disp),
		}
		if pi.haveSrchost && pi.srchost != "" {
			jp.Remote = pi.srchost
		} else {
			jp.Remote = o.addrName(pi.srcadr)
		}
		if d, ok := pi.whenSeconds(o.Now); ok {
			jp.WhenSeconds = &d
		}
		doc.Peers = append(doc.Peers, jp)
	}
	return doc
}

// AssociationsJSON builds the JSON document of an associations view.
func AssociationsJSON(view, host string, sys uint16, rows []AssocRow) JSONAssociations {
	doc := JSONAssociations{View: view, Host: host, SysStatus: statusJSON(VarsSystem, sys), Associations: []JSONAssoc{}}
	for _, r := range rows {
		doc.Associations = append(doc.Associations, JSONAssoc{Index: r.Index, AssocID: r.AssocID,
			Status: fmt.Sprintf("%04x", r.Status), Conf: r.Conf == "yes", Reach: r.Reach,
			Auth: strings.TrimSpace(r.Auth), Condition: r.Condition, LastEvent: r.LastEvent, EventCount: r.Count})
	}
	return doc
}

// ReadvarJSON builds the JSON document of a readvar answer.
func ReadvarJSON(view, host string, kind VarKind, assoc, status uint16, data []byte, o RenderOptions) JSONReadvar {
	doc := JSONReadvar{View: view, Host: host, AssocID: assoc, Status: statusJSON(kind, status), Variables: []JSONVar{}}
	vars, _ := mode6.Tokenize(data)
	for _, v := range vars {
		doc.Variables = append(doc.Variables, JSONVar{Name: v.Name, Raw: v.Value, Value: typedValue(v.Name, v.Value, o)})
	}
	return doc
}

// typedValue decodes a variable for JSON: strings unquoted, numbers as
// numbers, timestamps as RFC 3339 UTC, reach/flash as integers.
func typedValue(name, value string, o RenderOptions) any {
	if len(value) >= 2 && value[0] == '"' {
		return mode6.Unquote(value)
	}
	switch name {
	case "reach", "flash":
		if v, ok := parseUintAuto(value); ok {
			return v
		}
		return nil
	case "srcadr", "dstadr", "refid", "peeradr":
		return value
	}
	if ts, ok := parseTS(value); ok {
		if ts == 0 {
			return nil
		}
		return ntp.Timestamp(ts).Time(o.Now).UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
	}
	if v, ok := parseIntText(value); ok {
		return v
	}
	if isDecimal(value) {
		if f := floatPtr(value); f != nil {
			return *f
		}
	}
	return nil
}
