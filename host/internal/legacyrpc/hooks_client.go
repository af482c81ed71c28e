package legacyrpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/rpc"

	"github.com/hashicorp/go-plugin"
)

// errAnsweredUndialed is a ServeHTTP answered before its streams were dialed.
var errAnsweredUndialed = errors.New("legacyrpc: the plugin answered ServeHTTP without dialing its streams")

// HooksClient is the host side of the plugin's hooks.
type HooksClient struct {
	broker *plugin.MuxBroker
	client *rpc.Client
	log    *slog.Logger
}

// Failure is why a forwarded request did not end normally.
type Failure struct {
	// Err is the cause: an rpc.ServerError (the plugin answered with an
	// error), rpc.ErrShutdown or io.ErrUnexpectedEOF (the plugin is gone), a
	// body read error (BodyFailed) or the request context's cause (ClientGone).
	Err error
	// Committed: the status line had gone out, so only an abort is left.
	Committed bool
	// BodyFailed: reading the client's request body failed.
	BodyFailed bool
	// ClientGone: the request's context ended before the plugin returned.
	ClientGone bool
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// ServeHTTP forwards one request over the legacy RPC: one Plugin.ServeHTTP
// call carrying the ids of two broker streams (response writer, request
// body), served once the plugin dials them. The call goes first (the broker
// holds an early dial), so a call that cannot even be sent, to a plugin
// already gone, leaves nothing behind.
//
// It returns nil or a *Failure once the plugin's call has returned and both
// streams are closed, so nothing it started outlives it (but an Accept for a
// stream the plugin died before dialing, which gives up by itself). The
// caller decides what the client gets; w is not used after it returns.
func (c *HooksClient) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	args := &ServeHTTPArgs{
		ResponseWriterStream: c.broker.NextId(),
		RequestBodyStream:    c.broker.NextId(),
		Request:              RequestOf(r),
	}
	call := c.client.Go("Plugin.ServeHTTP", args, &struct{}{}, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
		// The plugin cannot answer before it has dialed both streams, so a
		// call already done was never sent: the connection is gone.
		if call.Error != nil {
			return &Failure{Err: call.Error}
		}
		return &Failure{Err: errAnsweredUndialed}
	default:
	}
	writer := NewResponseWriterServer(w, c.log)
	writerStream := acceptStream(c.broker, args.ResponseWriterStream, func(conn net.Conn) {
		server := rpc.NewServer()
		if err := server.RegisterName("Plugin", writer); err != nil {
			c.log.Error("legacyrpc: cannot register the response writer", "err", err)
			return
		}
		server.ServeConn(conn)
	})
	bodyFailed := make(chan error, 1)
	bodyStream := acceptStream(c.broker, args.RequestBodyStream, func(conn net.Conn) {
		var failed bodyError
		if err := ServeBody(r.Body, conn); errors.As(err, &failed) {
			bodyFailed <- failed
		}
	})

	var failure *Failure
	select {
	case <-call.Done:
		if call.Error != nil {
			failure = &Failure{Err: call.Error}
		}
	case <-r.Context().Done():
		failure = &Failure{Err: context.Cause(r.Context()), ClientGone: true}
		stopExchange(writer, writerStream, bodyStream, call)
	case err := <-bodyFailed:
		failure = &Failure{Err: err, BodyFailed: true}
		stopExchange(writer, writerStream, bodyStream, call)
	}
	writerStream.end()
	bodyStream.end()
	writer.Close()
	if failure == nil {
		return nil
	}
	failure.Committed = writer.Committed()
	return failure
}

// stopExchange makes the plugin's next write and body read fail, then waits
// for its handler to notice and return (the legacy RPC cannot cancel it).
func stopExchange(writer *ResponseWriterServer, writerStream, bodyStream *stream, call *rpc.Call) {
	writer.Close()
	writerStream.stop()
	bodyStream.stop()
	<-call.Done
}

// Stats asks the plugin for its process figures.
func (c *HooksClient) Stats(ctx context.Context, collectGarbage bool) (Stats, error) {
	var reply Stats
	call := c.client.Go("Plugin.Stats", StatsArgs{CollectGarbage: collectGarbage}, &reply, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
		if call.Error != nil {
			return Stats{}, fmt.Errorf("legacyrpc: Plugin.Stats: %w", call.Error)
		}
		return reply, nil
	case <-ctx.Done():
		return Stats{}, fmt.Errorf("legacyrpc: Plugin.Stats: %w", context.Cause(ctx))
	}
}
