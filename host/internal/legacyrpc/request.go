package legacyrpc

import (
	"context"
	"io"
	"net/http"
	"net/url"
)

// Request is the part of an *http.Request that crosses to the plugin (gob
// encoded, like upstream's subset: no TLS state, no context).
type Request struct {
	Method        string
	URL           *url.URL
	Proto         string
	ProtoMajor    int
	ProtoMinor    int
	Header        http.Header
	Host          string
	RemoteAddr    string
	RequestURI    string
	ContentLength int64
}

// ServeHTTPArgs is the argument of Plugin.ServeHTTP: the request and the
// broker stream ids the plugin dials for the response writer and the body
// (0: no body stream).
type ServeHTTPArgs struct {
	ResponseWriterStream uint32
	RequestBodyStream    uint32
	Request              *Request
}

// RequestOf copies r's metadata for the plugin.
func RequestOf(r *http.Request) *Request {
	return &Request{
		Method:        r.Method,
		URL:           r.URL,
		Proto:         r.Proto,
		ProtoMajor:    r.ProtoMajor,
		ProtoMinor:    r.ProtoMinor,
		Header:        r.Header,
		Host:          r.Host,
		RemoteAddr:    r.RemoteAddr,
		RequestURI:    r.RequestURI,
		ContentLength: r.ContentLength,
	}
}

// HTTPRequest is the plugin's *http.Request with body as its Body. Its
// context never ends early: the legacy RPC carries no cancellation.
func (r *Request) HTTPRequest(ctx context.Context, body io.ReadCloser) *http.Request {
	u := r.URL
	if u == nil {
		u = &url.URL{}
	}
	header := r.Header
	if header == nil {
		header = http.Header{}
	}
	req := &http.Request{
		Method:        r.Method,
		URL:           u,
		Proto:         r.Proto,
		ProtoMajor:    r.ProtoMajor,
		ProtoMinor:    r.ProtoMinor,
		Header:        header,
		Host:          r.Host,
		RemoteAddr:    r.RemoteAddr,
		RequestURI:    r.RequestURI,
		ContentLength: r.ContentLength,
		Body:          body,
	}
	return req.WithContext(ctx)
}
