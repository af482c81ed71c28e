package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streambench/host/internal/bridge"
)

// StreamStarted makes Metrics the bridge's Observer: one stream begins.
func (m *Metrics) StreamStarted() bridge.StreamObserver {
	m.activeStreams.Inc()
	return &stream{
		m:        m,
		started:  time.Now(),
		toClient: m.bodyBytes.WithLabelValues(ToClient),
		toPlugin: m.bodyBytes.WithLabelValues(ToPlugin),
	}
}

// stream is one stream's observer. Byte counts go to the shared counters as
// they happen, so a rate over a long transfer is right while it runs.
type stream struct {
	m         *Metrics
	started   time.Time
	firstByte bool
	toClient  prometheus.Counter
	toPlugin  prometheus.Counter
}

// ResponseStarted: the plugin's response reached the client (the bridge
// calls it once, on the request goroutine).
func (s *stream) ResponseStarted() {
	if !s.firstByte {
		s.firstByte = true
		s.m.timeToFirstByte.Observe(time.Since(s.started).Seconds())
	}
}

func (s *stream) BodyBytesToClient(n int) { s.toClient.Add(float64(n)) }

// BodyBytesToPlugin is called from the bridge's request pump goroutine;
// prometheus counters are safe for that.
func (s *stream) BodyBytesToPlugin(n int) { s.toPlugin.Add(float64(n)) }

func (s *stream) StreamEnded(outcome bridge.Outcome) {
	m := s.m
	m.activeStreams.Dec()
	ended, duration := m.endedBy[outcome], m.durationBy[outcome]
	if ended == nil { // an outcome newer than this package: still counted
		ended = m.streams.WithLabelValues(string(outcome))
		duration = m.streamDuration.WithLabelValues(string(outcome))
	}
	ended.Inc()
	duration.Observe(time.Since(s.started).Seconds())
}
