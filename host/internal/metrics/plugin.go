package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streambench/host/internal/gen/benchstatsv1"
)

// DefaultPluginTimeout bounds the plugin's GetStats call during a scrape,
// well inside Prometheus' default 10 s scrape timeout (and the 1 s scrape
// interval of docker/prometheus.yml).
const DefaultPluginTimeout = 500 * time.Millisecond

// pluginCollector asks the plugin for its figures at scrape time. When the
// plugin does not answer, only streambench_plugin_up 0 is reported: its
// other series go absent rather than stale, and the scrape succeeds.
type pluginCollector struct {
	client  benchstatsv1.PluginStatsServiceClient
	timeout time.Duration

	up, rss, threads, openFDs, activeHandlers, asyncioTasks *prometheus.Desc
	handlersTotal, handlersCancelled, handlersFailed        *prometheus.Desc
}

func newPluginCollector(client benchstatsv1.PluginStatsServiceClient, timeout time.Duration) *pluginCollector {
	if timeout <= 0 {
		timeout = DefaultPluginTimeout
	}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(PluginPrefix+name, help, nil, nil)
	}
	return &pluginCollector{
		client:            client,
		timeout:           timeout,
		up:                desc("up", "1 when the plugin answered its stats call during this scrape, else 0."),
		rss:               desc("resident_memory_bytes", "Resident set size of the plugin process."),
		threads:           desc("threads", "OS threads of the plugin process."),
		openFDs:           desc("open_fds", "Open file descriptors of the plugin process."),
		activeHandlers:    desc("active_handlers", "ServeHTTP handlers running now."),
		asyncioTasks:      desc("asyncio_tasks", "Tasks on the plugin's event loop."),
		handlersTotal:     desc("handlers_total", "ServeHTTP handlers started since the plugin started."),
		handlersCancelled: desc("handlers_cancelled_total", "Handlers ended by cancellation (client gone)."),
		handlersFailed:    desc("handlers_failed_total", "Handlers ended by an exception."),
	}
}

func (c *pluginCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.rss, c.threads, c.openFDs, c.activeHandlers,
		c.asyncioTasks, c.handlersTotal, c.handlersCancelled, c.handlersFailed} {
		ch <- d
	}
}

func (c *pluginCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.client.GetStats(ctx, &benchstatsv1.PluginStatsRequest{})
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.up, 1)
	gauge(c.rss, float64(st.GetRssBytes()))
	gauge(c.threads, float64(st.GetThreads()))
	gauge(c.openFDs, float64(st.GetOpenFds()))
	gauge(c.activeHandlers, float64(st.GetActiveHandlers()))
	gauge(c.asyncioTasks, float64(st.GetAsyncioTasks()))
	counter(c.handlersTotal, float64(st.GetHandlersTotal()))
	counter(c.handlersCancelled, float64(st.GetHandlersCancelled()))
	counter(c.handlersFailed, float64(st.GetHandlersFailed()))
}
