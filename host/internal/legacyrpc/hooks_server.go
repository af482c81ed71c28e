package legacyrpc

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/hashicorp/go-plugin"
)

// HooksServer is the plugin side's net/rpc receiver ("Plugin" on the
// dispensed stream). net/rpc runs each call on its own goroutine, so
// requests are served concurrently.
type HooksServer struct {
	impl   Plugin
	broker *plugin.MuxBroker
}

// ServeHTTP dials the request's two streams and runs the plugin's handler
// on them; it returns when the handler has returned.
func (s *HooksServer) ServeHTTP(args *ServeHTTPArgs, _ *struct{}) error {
	if args.Request == nil {
		return fmt.Errorf("legacyrpc: ServeHTTP without a request")
	}
	conn, err := s.broker.Dial(args.ResponseWriterStream)
	if err != nil {
		return fmt.Errorf("legacyrpc: dialing the response writer stream %d: %w", args.ResponseWriterStream, err)
	}
	w := NewResponseWriterClient(conn)
	defer w.Close()

	var body io.ReadCloser = http.NoBody
	if args.RequestBodyStream != 0 {
		conn, err := s.broker.Dial(args.RequestBodyStream)
		if err != nil {
			return fmt.Errorf("legacyrpc: dialing the request body stream %d: %w", args.RequestBodyStream, err)
		}
		reader := NewBodyReader(conn)
		defer reader.Close()
		body = reader
	}
	s.impl.ServeHTTP(w, args.Request.HTTPRequest(context.Background(), body))
	return nil
}

// Stats answers the plugin's process figures.
func (s *HooksServer) Stats(args StatsArgs, reply *Stats) error {
	*reply = s.impl.Stats(args.CollectGarbage)
	return nil
}
