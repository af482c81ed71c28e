from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class PluginStatsRequest(_message.Message):
    __slots__ = ("collect_garbage",)
    COLLECT_GARBAGE_FIELD_NUMBER: _ClassVar[int]
    collect_garbage: bool
    def __init__(self, collect_garbage: bool = ...) -> None: ...

class PluginStats(_message.Message):
    __slots__ = ("rss_bytes", "threads", "open_fds", "active_handlers", "asyncio_tasks", "handlers_total", "handlers_cancelled", "pid", "max_chunk_bytes", "handlers_failed", "allocated_blocks", "gc_objects", "cpu_seconds", "response_budget_bytes", "response_send_slots", "response_sending", "response_waiting")
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    OPEN_FDS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_HANDLERS_FIELD_NUMBER: _ClassVar[int]
    ASYNCIO_TASKS_FIELD_NUMBER: _ClassVar[int]
    HANDLERS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    HANDLERS_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    HANDLERS_FAILED_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    GC_OBJECTS_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_BUDGET_BYTES_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_SEND_SLOTS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_SENDING_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_WAITING_FIELD_NUMBER: _ClassVar[int]
    rss_bytes: int
    threads: int
    open_fds: int
    active_handlers: int
    asyncio_tasks: int
    handlers_total: int
    handlers_cancelled: int
    pid: int
    max_chunk_bytes: int
    handlers_failed: int
    allocated_blocks: int
    gc_objects: int
    cpu_seconds: float
    response_budget_bytes: int
    response_send_slots: int
    response_sending: int
    response_waiting: int
    def __init__(self, rss_bytes: _Optional[int] = ..., threads: _Optional[int] = ..., open_fds: _Optional[int] = ..., active_handlers: _Optional[int] = ..., asyncio_tasks: _Optional[int] = ..., handlers_total: _Optional[int] = ..., handlers_cancelled: _Optional[int] = ..., pid: _Optional[int] = ..., max_chunk_bytes: _Optional[int] = ..., handlers_failed: _Optional[int] = ..., allocated_blocks: _Optional[int] = ..., gc_objects: _Optional[int] = ..., cpu_seconds: _Optional[float] = ..., response_budget_bytes: _Optional[int] = ..., response_send_slots: _Optional[int] = ..., response_sending: _Optional[int] = ..., response_waiting: _Optional[int] = ...) -> None: ...
