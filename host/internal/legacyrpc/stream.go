package legacyrpc

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
)

// stream is one broker stream the host reserves for an exchange and serves
// once the plugin dials it.
type stream struct {
	id   uint32
	done chan struct{} // closed when serve has returned (if it ever ran)

	mu   sync.Mutex
	conn net.Conn // nil until accepted
	over bool     // the exchange ended: do not start serving any more
}

// acceptStream serves stream id (from broker.NextId) on its own goroutine
// once the plugin dials it; the broker holds a dial that comes first.
// MuxBroker.Accept gives up by itself after five seconds if the plugin never
// dials (it died first).
func acceptStream(broker *plugin.MuxBroker, id uint32, serve func(net.Conn)) *stream {
	s := &stream{id: id, done: make(chan struct{})}
	go func() {
		conn, err := broker.Accept(s.id)
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.over {
			s.mu.Unlock()
			_ = conn.Close()
			return
		}
		s.conn = conn
		s.mu.Unlock()
		defer close(s.done)
		defer conn.Close()
		serve(conn)
	}()
	return s
}

// cut unblocks the stream's server: reads fail at once and the host's end is
// closed, so the plugin's next call on it fails too.
func (s *stream) cut() {
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn != nil {
		_ = conn.SetReadDeadline(time.Now())
		_ = conn.Close()
	}
}

// end cuts the stream and waits for its server, if one started; a stream
// the plugin never dialed is left to Accept's own timeout, and never served.
func (s *stream) end() {
	s.mu.Lock()
	s.over = true
	started := s.conn != nil
	s.mu.Unlock()
	if started {
		s.cut()
		<-s.done
	}
}
