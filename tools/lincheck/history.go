package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/anishathalye/porcupine"
)

// history is the file pgha's drills write (pgha/ops/drills/linearizability.py).
type history struct {
	Initial    int64    `json:"initial"` // every key's value before the first operation
	Operations []record `json:"operations"`
}

// record is one operation as a client saw it. Times are nanoseconds on one monotonic clock.
type record struct {
	Client   int    `json:"client"`
	Key      string `json:"key"`
	Kind     string `json:"kind"`     // read, write or cas
	Value    *int64 `json:"value"`    // write: the value written; read: the value read (ok reads only)
	Expected *int64 `json:"expected"` // cas
	New      *int64 `json:"new"`      // cas
	Swapped  *bool  `json:"swapped"`  // cas: whether it replaced the value (ok cas only)
	Call     int64  `json:"call"`
	Return   int64  `json:"return"`
	Outcome  string `json:"outcome"` // ok, failed (certainly not applied) or unknown (the connection died first)
}

// checked is what goes to porcupine, and what was left out of it.
type checked struct {
	operations []porcupine.Operation
	unknown    int // of them, operations of unknown outcome
	leftOut    int // failed operations and reads of unknown outcome: they constrain nothing
}

func decode(r io.Reader) (history, error) {
	var h history
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	if err := d.Decode(&h); err != nil {
		return h, fmt.Errorf("not a history: %w", err)
	}
	return h, nil
}

// prepare turns records into porcupine operations. A failed operation never took effect and is left out. An
// operation of unknown outcome may or may not have: it returns after everything else, with an output the model
// accepts either way, so the checker may place it anywhere after its call, the end included (which is not taking
// effect at all). A read of unknown outcome changes nothing and says nothing, so it is left out too.
//
// A client that lost an operation that way carries on with a new connection; it becomes a new process, as in
// Jepsen, so that no process has two operations open at once.
func prepare(h history) (checked, error) {
	var c checked
	var end int64
	for i, r := range h.Operations {
		if err := validate(r); err != nil {
			return c, fmt.Errorf("operation %d: %w", i, err)
		}
		if r.Call > end {
			end = r.Call
		}
		if r.Return > end {
			end = r.Return
		}
	}
	records := append([]record(nil), h.Operations...)
	sort.SliceStable(records, func(a, b int) bool { return records[a].Call < records[b].Call })
	processes := newProcesses()
	for _, r := range records {
		if r.Outcome == "failed" || (r.Outcome == "unknown" && r.Kind == "read") {
			c.leftOut++
			continue
		}
		op := porcupine.Operation{
			ClientId: processes.of(r.Client),
			Input:    input{Key: r.Key, Kind: r.Kind, Value: orZero(r.Value), Expected: orZero(r.Expected), New: orZero(r.New)},
			Call:     r.Call,
			Return:   r.Return,
		}
		if r.Outcome == "unknown" {
			op.Output, op.Return, op.Metadata = output{Unknown: true}, end+1, "unknown outcome"
			processes.crashed(r.Client)
			c.unknown++
		} else {
			op.Output = output{Value: orZero(r.Value), Swapped: r.Swapped != nil && *r.Swapped}
		}
		c.operations = append(c.operations, op)
	}
	return c, nil
}

func validate(r record) error {
	if r.Client < 0 {
		return fmt.Errorf("client %d: ids start at 0", r.Client)
	}
	switch r.Outcome {
	case "ok", "failed", "unknown":
	default:
		return fmt.Errorf("outcome %q: not ok, failed or unknown", r.Outcome)
	}
	if r.Outcome == "ok" && r.Return < r.Call {
		return fmt.Errorf("returns at %d, before its call at %d", r.Return, r.Call)
	}
	switch r.Kind {
	case "read":
		if r.Outcome == "ok" && r.Value == nil {
			return fmt.Errorf("a read that returned has no value")
		}
	case "write":
		if r.Value == nil {
			return fmt.Errorf("a write has no value")
		}
	case "cas":
		if r.Expected == nil || r.New == nil {
			return fmt.Errorf("a cas needs expected and new")
		}
		if r.Outcome == "ok" && r.Swapped == nil {
			return fmt.Errorf("a cas that returned says nothing of swapped")
		}
	default:
		return fmt.Errorf("kind %q: not read, write or cas", r.Kind)
	}
	return nil
}

func orZero(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}

// processes numbers each client's successive lives from 0, in the order they first act, as the visualization wants.
type processes struct {
	current map[int]int
	next    int
}

func newProcesses() *processes { return &processes{current: map[int]int{}} }

func (p *processes) of(client int) int {
	id, ok := p.current[client]
	if !ok {
		id = p.next
		p.current[client] = id
		p.next++
	}
	return id
}

func (p *processes) crashed(client int) { delete(p.current, client) }
