// Command lincheck checks a history of register operations, as pgha's drills record them, for linearizability
// with porcupine: one register per key, checked key by key.
//
//	lincheck [-timeout 60s] [-html failure.html] history.json|-
//
// It prints one JSON line: {"linearizable": true|false|"unknown", "operations": N, "unknown": U, "left_out": L,
// "seconds": S}, and writes porcupine's visualization to -html when the history is not linearizable. "unknown":
// the check did not end within -timeout. Exit status: 0 linearizable, 1 not, 3 unknown, 2 a bad command line or
// history.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

type verdict struct {
	Linearizable interface{} `json:"linearizable"` // true, false or "unknown"
	Operations   int         `json:"operations"`   // given to the checker
	Unknown      int         `json:"unknown"`      // of them, of unknown outcome
	LeftOut      int         `json:"left_out"`     // failed operations and reads of unknown outcome
	Seconds      float64     `json:"seconds"`
}

func main() {
	timeout := flag.Duration("timeout", 60*time.Second, "give up (verdict \"unknown\") after this long")
	html := flag.String("html", "", "where to write porcupine's visualization when the history is not linearizable")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: lincheck [-timeout 60s] [-html failure.html] history.json|-")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *timeout <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	h, err := read(flag.Arg(0))
	if err == nil {
		var c checked
		if c, err = prepare(h); err == nil {
			os.Exit(check(registerModel(h.Initial), c, *timeout, *html))
		}
	}
	fmt.Fprintln(os.Stderr, "lincheck:", err)
	os.Exit(2)
}

func read(path string) (history, error) {
	var in io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return history{}, err
		}
		defer f.Close()
		in = f
	}
	return decode(in)
}

// check runs porcupine within the timeout, prints the verdict and returns the exit status. The first pass stops at
// the first illegal partition; only a failure is checked again, verbosely, for the visualization.
func check(model porcupine.Model, c checked, timeout time.Duration, html string) int {
	start := time.Now()
	result := porcupine.CheckOperationsTimeout(model, c.operations, timeout)
	var drawErr error
	if result == porcupine.Illegal && html != "" {
		left := timeout - time.Since(start)
		if left < time.Second {
			left = time.Second
		}
		_, info := porcupine.CheckOperationsVerbose(model, c.operations, left)
		drawErr = porcupine.VisualizePath(model, info, html)
	}
	v := verdict{Operations: len(c.operations), Unknown: c.unknown, LeftOut: c.leftOut}
	v.Seconds = math.Round(time.Since(start).Seconds()*1000) / 1000
	status := 0
	switch result {
	case porcupine.Ok:
		v.Linearizable = true
	case porcupine.Illegal:
		v.Linearizable, status = false, 1
	default:
		v.Linearizable, status = "unknown", 3
	}
	line, _ := json.Marshal(v)
	fmt.Println(string(line))
	if drawErr != nil {
		fmt.Fprintln(os.Stderr, "lincheck: the visualization:", drawErr)
		return 2
	}
	return status
}
