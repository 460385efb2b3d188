package main

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// input is what a client asked of one key.
type input struct {
	Key      string
	Kind     string // read, write or cas
	Value    int64  // write: the value written
	Expected int64  // cas: the value it must find
	New      int64  // cas: the value it puts in its place
}

// output is what the client heard back.
type output struct {
	Unknown bool  // the connection died before the answer: the operation may or may not have taken effect
	Value   int64 // read: the value read
	Swapped bool  // cas: whether it found Expected and wrote New
}

// registerModel is one register per key, every key starting at `initial`. The history is partitioned by key, so a
// partition's state is the one value of its register.
func registerModel(initial int64) porcupine.Model {
	return porcupine.Model{
		Partition: byKey,
		Init:      func() interface{} { return initial },
		Step:      step,
		Hash:      func(state interface{}) uint64 { return uint64(state.(int64)) },
		DescribeOperation: func(in, out interface{}) string {
			return describe(in.(input), out.(output))
		},
		DescribeState: func(state interface{}) string { return fmt.Sprintf("%d", state.(int64)) },
		DescribeOperationMetadata: func(info interface{}) string {
			if info == nil {
				return ""
			}
			return fmt.Sprint(info)
		},
	}
}

// step is the register's sequential specification. An operation of unknown outcome is accepted in any state, with
// the effect it has when it runs there: the checker places it where the rest of the history needs it, or after
// everything else (its return lies past the end of the history) when it never took effect.
func step(state, in, out interface{}) (bool, interface{}) {
	value, i, o := state.(int64), in.(input), out.(output)
	switch i.Kind {
	case "read":
		return o.Unknown || o.Value == value, value
	case "write":
		return true, i.Value
	case "cas":
		found := value == i.Expected
		if o.Unknown || o.Swapped == found {
			if found {
				return true, i.New
			}
			return true, value
		}
		return false, value
	}
	return false, value
}

func byKey(history []porcupine.Operation) [][]porcupine.Operation {
	index := map[string]int{}
	var partitions [][]porcupine.Operation
	for _, op := range history {
		key := op.Input.(input).Key
		i, seen := index[key]
		if !seen {
			i = len(partitions)
			index[key] = i
			partitions = append(partitions, nil)
		}
		partitions[i] = append(partitions[i], op)
	}
	return partitions
}

func describe(i input, o output) string {
	var call, answer string
	switch i.Kind {
	case "read":
		call, answer = fmt.Sprintf("read(%s)", i.Key), fmt.Sprintf("%d", o.Value)
	case "write":
		call, answer = fmt.Sprintf("write(%s, %d)", i.Key, i.Value), "ok"
	case "cas":
		call, answer = fmt.Sprintf("cas(%s, %d, %d)", i.Key, i.Expected, i.New), fmt.Sprintf("%t", o.Swapped)
	}
	if o.Unknown {
		answer = "?"
	}
	return call + " -> " + answer
}
