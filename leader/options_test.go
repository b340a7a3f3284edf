package leader

import (
	"errors"
	"strings"
	"testing"
)

func TestOptionsValidation(t *testing.T) {
	cfg := newConfig([]Option{
		WithID("ok"),
		WithCloseMode(CloseMode(7)),
		WithErrorPolicy(ErrorPolicy(9)),
		WithListener(nil),
		WithEvents(nil),
		WithID("\xff"),
	})
	err := cfg.validate(false)
	if !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("validate = %v, want ErrInvalidOption", err)
	}
	for _, want := range []string{"close mode 7", "error policy 9", "nil listener", "nil event channel", "UTF-8"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestOptionsScope(t *testing.T) {
	cfg := newConfig([]Option{WithRequeue(false), WithErrorPolicy(SessionPolicy), WithLogger(nil)})
	if err := cfg.validate(true); err != nil {
		t.Fatalf("Run options rejected by Run: %v", err)
	}
	if err := cfg.validate(false); err == nil || !strings.Contains(err.Error(), "WithRequeue") {
		t.Fatalf("New accepted WithRequeue: %v", err)
	}
	cfg = newConfig([]Option{WithListener(ListenerFuncs{}), WithCloseMode(CloseNotifyLeader)})
	if err := cfg.validate(false); err != nil {
		t.Fatalf("latch options rejected by New: %v", err)
	}
	if err := cfg.validate(true); err == nil || !strings.Contains(err.Error(), "WithListener") {
		t.Fatalf("Run accepted WithListener: %v", err)
	}
	if cfg.closeMode != CloseNotifyLeader || !cfg.requeue || cfg.policy != StandardPolicy {
		t.Fatalf("defaults/settings wrong: %+v", cfg)
	}
}

func TestNames(t *testing.T) {
	if CloseSilent.String() != "SILENT" || CloseNotifyLeader.String() != "NOTIFY_LEADER" || CloseMode(5).String() != "CloseMode(5)" {
		t.Error("CloseMode names")
	}
	if StandardPolicy.String() != "standard" || SessionPolicy.String() != "session" || ErrorPolicy(5).String() != "ErrorPolicy(5)" {
		t.Error("ErrorPolicy names")
	}
}
