package bridge

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// pooledResponse is a ServeHTTPResponse whose body_chunk aliases gRPC's
// pooled receive buffer instead of a fresh allocation: the stock codec
// allocates, zeroes and copies every chunk, which profiles showed as a large
// share of the host's CPU per GiB. The chunk is valid until release.
type pooledResponse struct {
	msg pb.ServeHTTPResponse
	buf mem.Buffer
}

func (p *pooledResponse) release() {
	if p.buf != nil {
		p.buf.Free()
		p.buf = nil
	}
}

// responseCodec is the standard protobuf codec (same wire format, same
// "proto" name, so the content-subtype is unchanged) except that it decodes
// *pooledResponse without copying body_chunk.
type responseCodec struct{ proto encoding.CodecV2 }

func newResponseCodec() responseCodec { return responseCodec{proto: encoding.GetCodecV2("proto")} }

func (c responseCodec) Name() string { return c.proto.Name() }

func (c responseCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c responseCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*pooledResponse)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	p.release()
	// One contiguous buffer: a reference when the message arrived in one
	// piece, else one pooled copy. Freed by release, after the write.
	p.buf = data.MaterializeToBuffer(mem.DefaultBufferPool())
	if err := decodeResponse(p.buf.ReadOnlyData(), &p.msg); err != nil {
		p.release()
		return err
	}
	return nil
}

// decodeResponse parses ServeHTTPResponse like proto.Unmarshal would (last
// scalar wins, repeated init merges, unknown fields skipped), aliasing
// body_chunk into b.
func decodeResponse(b []byte, m *pb.ServeHTTPResponse) error {
	m.Init, m.BodyChunk, m.BodyComplete, m.Flush = nil, nil, false, false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("ServeHTTPResponse: %w", protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber {
			return fmt.Errorf("ServeHTTPResponse: field number %d out of range", num)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			if n >= 0 {
				if m.Init == nil {
					m.Init = new(pb.ServeHTTPResponseInit)
				}
				if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, m.Init); err != nil {
					return fmt.Errorf("ServeHTTPResponse.init: %w", err)
				}
			}
		case num == 2 && typ == protowire.BytesType:
			m.BodyChunk, n = protowire.ConsumeBytes(b)
		case num == 3 && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			m.BodyComplete = v != 0
		case num == 4 && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			m.Flush = v != 0
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("ServeHTTPResponse field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}
