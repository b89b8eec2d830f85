package mode6_test

import (
	"fmt"

	"github.com/ntpkit/ntpkit/mode6"
)

func Example() {
	// Client: the request ntpq-classic sends for "rv 0 leap,stratum,refid".
	req := mode6.NewRequest(mode6.OpReadVar, 1, 0)
	wire := mode6.MarshalRequest(req, []byte("leap,stratum,refid"))

	// Server: validate, encode the variables, fragment.
	d := mode6.ValidateRequest(wire)
	var enc mode6.VarEncoder
	enc.Reset(nil)
	enc.Int("leap", 0)
	enc.Int("stratum", 3)
	enc.Raw("refid", "198.18.123.7")
	data := enc.Finish()
	cuts, _ := enc.Cuts()
	status := mode6.SysStatus{Leap: mode6.LeapNone, Source: mode6.SyncNTP, Count: 1, Event: mode6.SysEvClockSync}
	frags, _ := mode6.FragmentAt(mode6.ReplyHeader(d.Request.Header, mode6.LeapNone, status.Word()), data, cuts)

	// Client: reassemble and tokenize.
	a := mode6.NewAssembler(req, 0)
	for _, f := range frags {
		if done, err := a.AddBytes(f); done || err != nil {
			break
		}
	}
	vars, _ := mode6.Tokenize(a.Data())
	fmt.Printf("status=%04x %s\n", a.Status(), mode6.DecodeSysStatus(a.Status()))
	for _, v := range vars {
		fmt.Printf("%s=%s\n", v.Name, v.Value)
	}
	// Output:
	// status=0615 leap_none, sync_ntp, 1 event, clock_sync
	// leap=0
	// stratum=3
	// refid=198.18.123.7
}
