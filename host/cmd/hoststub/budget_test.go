package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/streambench/host/internal/bridge"
)

func TestLimitsFromFlagsAndEnv(t *testing.T) {
	cfg, err := parseConfig([]string{"--plugin-addr", "unix:/x.sock", "--max-streams", "7"}, env(map[string]string{
		"HOSTSTUB_BUDGET_BYTES": "16777216", "HOSTSTUB_MAX_QUEUE": "3", "HOSTSTUB_QUEUE_TIMEOUT": "2s",
		"HOSTSTUB_MAX_STREAMS": "9", // the flag wins
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := limits{budgetBytes: 16 << 20, maxStreams: 7, maxQueue: 3, queueTimeout: 2 * time.Second, retryAfter: time.Second}
	if cfg.limits != want {
		t.Fatalf("limits %+v, want %+v", cfg.limits, want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--budget-bytes", "1000"}, "--budget-bytes"},
		{[]string{"--max-streams", "-1"}, "--max-streams"},
		{[]string{"--max-queue", "-1"}, "--max-queue"},
		{[]string{"--queue-timeout", "0s"}, "--queue-timeout"},
		{[]string{"--retry-after", "10ms"}, "--retry-after"},
	} {
		args := append([]string{"--plugin-addr", "unix:/x"}, tc.args...)
		if _, err := parseConfig(args, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want mention of %q", tc.args, err, tc.want)
		}
	}
}

func TestDefaultStreamLimitFollowsBudget(t *testing.T) {
	cases := []struct {
		name        string
		limits      limits
		windowBytes int
		want        int64
	}{
		{"defaults: 36 MiB / (2 MiB window + 1 MiB message)", limits{budgetBytes: DefaultBudgetBytes}, 2 << 20, 12},
		{"tiny budget still admits one", limits{budgetBytes: 1 << 20}, 2 << 20, 1},
		{"explicit limit wins", limits{budgetBytes: DefaultBudgetBytes, maxStreams: 100}, 2 << 20, 100},
		{"smaller window, more streams", limits{budgetBytes: DefaultBudgetBytes}, 1 << 20, 18},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", "off") // keep this test from changing the process's GC limit
			b := &bridge.Bridge{Budget: tc.limits.newBudget(), WindowBytes: reservedWindowBytes(tc.windowBytes)}
			g := tc.limits.newGate(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if got := g.Limits().MaxStreams; got != tc.want {
				t.Fatalf("max streams %d, want %d", got, tc.want)
			}
			if got := g.Limits().BudgetBytes; got != tc.limits.budgetBytes {
				t.Fatalf("budget %d, want %d", got, tc.limits.budgetBytes)
			}
		})
	}
}
