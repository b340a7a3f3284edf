package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/anishathalye/porcupine"
)

// The counter as a linearizable register with fenced compare-and-set: reads return the
// value and the token of its last writer; an increment applies only at the value it read
// and with a token no lower than the last writer's. An increment with an unknown outcome
// is pending forever and may or may not take effect.
type counterState struct {
	value int
	token int64
}

type counterInput struct {
	read   bool
	expect int
	token  int64
	op     int
}

type counterOutput struct {
	got     entry // reads
	outcome outcome
}

var counterModel = porcupine.NondeterministicModel{
	Init: func() []any { return []any{counterState{}} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(counterState), input.(counterInput), output.(counterOutput)
		if in.read {
			if out.got.value == s.value && out.got.token == s.token {
				return []any{s}
			}
			return nil
		}
		can := in.expect == s.value && in.token >= s.token
		next := counterState{value: s.value + 1, token: in.token}
		switch out.outcome {
		case applied:
			if can {
				return []any{next}
			}
			return nil
		case conflict:
			if in.expect != s.value {
				return []any{s}
			}
			return nil
		case unknown:
			if can {
				return []any{s, next}
			}
			return []any{s}
		default: // not applied
			return []any{s}
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(counterInput), output.(counterOutput)
		if in.read {
			return fmt.Sprintf("read -> %d (token %#x)", out.got.value, out.got.token)
		}
		return fmt.Sprintf("op %d: inc %d->%d (token %#x) -> %s", in.op, in.expect, in.expect+1, in.token, out.outcome)
	},
	DescribeState: func(state any) string {
		s := state.(counterState)
		return fmt.Sprintf("%d (token %#x)", s.value, s.token)
	},
}

// Leadership as ZooKeeper grants it: the state is the token of the latest term to begin.
// A term begins with a token no lower than any before it, and an applied increment
// carries the token of the term that leads when it applies: a term's write landing after a
// later term began would mean two leaders at once.
type leadInput struct {
	begin bool
	token int64
	op    int
}

var leadershipModel = porcupine.Model{
	Init: func() any { return int64(0) },
	Step: func(state, input, _ any) (bool, any) {
		s, in := state.(int64), input.(leadInput)
		if in.begin {
			return in.token >= s, in.token
		}
		return in.token == s, s
	},
	DescribeOperation: func(input, _ any) string {
		in := input.(leadInput)
		if in.begin {
			return fmt.Sprintf("term %#x begins", in.token)
		}
		return fmt.Sprintf("op %d applied by term %#x", in.op, in.token)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("term %#x leads", state.(int64)) },
}

func (h *history) counterOps() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	ops := make([]porcupine.Operation, 0, len(h.reads)+len(h.writes))
	for _, r := range h.reads {
		ops = append(ops, porcupine.Operation{ClientId: r.who, Input: counterInput{read: true},
			Call: r.call, Output: counterOutput{got: r.got}, Return: r.ret})
	}
	for _, w := range h.writes {
		ret := w.ret
		if w.outcome == unknown {
			ret = forever
		}
		ops = append(ops, porcupine.Operation{ClientId: w.who,
			Input: counterInput{expect: w.expect, token: w.token, op: w.id},
			Call:  w.call, Output: counterOutput{outcome: w.outcome}, Return: ret})
	}
	return ops
}

func (h *history) leadershipOps() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ops []porcupine.Operation
	for _, tm := range h.terms {
		ops = append(ops, porcupine.Operation{ClientId: tm.who, Input: leadInput{begin: true, token: tm.token},
			Call: tm.call, Return: tm.ret})
	}
	for _, w := range h.writes {
		if w.outcome == applied {
			ops = append(ops, porcupine.Operation{ClientId: w.who, Input: leadInput{token: w.token, op: w.id},
				Call: w.call, Return: w.ret})
		}
	}
	return ops
}

// linearizable checks ops against model. On a violation it writes porcupine's
// visualization into dir and says where; a check that runs out of time is inconclusive
// and reported as such, not as a violation.
func linearizable(model porcupine.Model, name string, ops []porcupine.Operation, dir string) (ok bool, report string) {
	res, info := porcupine.CheckOperationsVerbose(model, ops, 3*time.Minute)
	switch res {
	case porcupine.Ok:
		return true, fmt.Sprintf("%s: %d operations linearizable", name, len(ops))
	case porcupine.Unknown:
		return true, fmt.Sprintf("%s: %d operations: porcupine ran out of time, inconclusive", name, len(ops))
	}
	report = fmt.Sprintf("%s: %d operations are NOT linearizable", name, len(ops))
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "chaos-"); err != nil {
			return false, report + fmt.Sprintf(" (no visualization: %v)", err)
		}
	}
	file := filepath.Join(dir, name+".html")
	if err := porcupine.VisualizePath(model, info, file); err != nil {
		return false, report + fmt.Sprintf(" (visualization failed: %v)", err)
	}
	return false, report + "; porcupine's visualization: " + file
}
