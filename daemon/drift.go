package daemon

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MaxDriftPPM bounds the frequency a drift file may hold.
const MaxDriftPPM = 500.0

// ReadDrift reads a drift file: one number, the frequency correction in
// ppm (classic format "%.3f\n"; trailing text on the line is ignored).
func ReadDrift(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("drift file %s: %w", path, err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("drift file %s: empty", path)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("drift file %s: not a number: %q", path, f[0])
	}
	if math.Abs(v) > MaxDriftPPM {
		return 0, fmt.Errorf("drift file %s: %.3f ppm out of range ±%.0f", path, v, MaxDriftPPM)
	}
	return v, nil
}

// driftMidWrite, when set (tests only), is called after half of the new
// contents has been written to the temporary file.
var driftMidWrite func()

// WriteDrift replaces the drift file atomically: the value goes to a
// temporary file in the same directory, which is synced, renamed over the
// old file, and the directory is synced. A crash at any point leaves
// either the old or the new complete file.
func WriteDrift(path string, ppm float64) (err error) {
	if math.IsNaN(ppm) || math.IsInf(ppm, 0) {
		return errors.New("drift: frequency is not a number")
	}
	ppm = math.Max(-MaxDriftPPM, math.Min(MaxDriftPPM, ppm))
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("drift file %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	data := []byte(strconv.FormatFloat(ppm, 'f', 3, 64) + "\n")
	half := len(data) / 2
	if _, err = tmp.Write(data[:half]); err != nil {
		return fmt.Errorf("drift file %s: %w", path, err)
	}
	if driftMidWrite != nil {
		driftMidWrite()
	}
	if _, err = tmp.Write(data[half:]); err != nil {
		return fmt.Errorf("drift file %s: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("drift file %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("drift file %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("drift file %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("drift file %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
