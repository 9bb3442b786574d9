package deps_tmp

import (
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/common/expfmt"
	_ "github.com/robfig/cron/v3"
	_ "github.com/slack-go/slack"
)
