package legacyrpc

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
)

// stream is one broker stream the host serves for an exchange once the
// plugin dials it.
type stream struct {
	done chan struct{} // closed when serve has returned (if it ever ran)

	mu   sync.Mutex
	conn net.Conn // nil until accepted
	over bool     // stopped: a stream accepted from now on is closed, not served
}

// acceptStream serves stream id (from broker.NextId) on its own goroutine
// once the plugin dials it; the broker holds a dial that comes first.
// MuxBroker.Accept gives up by itself after five seconds if the plugin never
// dials (it died first).
func acceptStream(broker *plugin.MuxBroker, id uint32, serve func(net.Conn)) *stream {
	s := &stream{done: make(chan struct{})}
	go func() {
		conn, err := broker.Accept(id)
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

// stop ends the stream for the plugin without waiting: the server's reads
// fail at once and the host's end is closed, so the plugin's next call on it
// fails too; a stream not accepted yet will be closed, never served. It
// reports whether a server had started.
func (s *stream) stop() (started bool) {
	s.mu.Lock()
	s.over = true
	conn := s.conn
	s.mu.Unlock()
	if conn != nil {
		_ = conn.SetReadDeadline(time.Now())
		_ = conn.Close()
	}
	return conn != nil
}

// end stops the stream and waits for its server, if one started.
func (s *stream) end() {
	if s.stop() {
		<-s.done
	}
}
