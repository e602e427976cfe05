"""Log lines as JSON (settings.LOGGING): no Django import here, since logging is configured before the apps."""

import datetime as dt
import json
import logging


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the fields a record was given (`extra`)."""

    _FIELDS = ("request_id", "method", "path", "status", "duration_ms", "user_id")

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **{k: getattr(record, k) for k in self._FIELDS if hasattr(record, k)},
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)
