//! The log line formats: byte for byte what `tracing-subscriber`'s `Full` (text, no ANSI, no
//! target) and `Json` (flattened event, current span, no span list, no target) formats write,
//! at a third of the cost.
//!
//! A tool call writes one line, so the line is a share of every call's CPU: callgrind counted
//! ~17k instructions per line in text and ~29k in JSON (of ~175k per call). The library's
//! formatters pay for generality: ANSI styling objects even with colours off, a calendar
//! computation per timestamp, and in JSON a `serde_json::Value` parse of the span's fields on
//! every event. Here the timestamp's date and time are computed once per second and per
//! thread, the frame is written directly, the span's stored JSON fields are spliced in
//! unparsed, and the event's own fields still go through the library's field visitor (text)
//! or the same serde rules (JSON). A test formats the same events with both and compares.

use serde::Serializer as _;
use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime as _;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Which line format.
#[derive(Debug, Clone, Copy)]
pub(super) enum Line {
    /// `2026-11-26T12:00:00.123456Z  INFO span{a=1}: message k=v`
    Text,
    /// `{"timestamp":"…","level":"INFO","message":"…","k":"v","span":{"a":1,"name":"span"}}`
    Json,
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        match self {
            Self::Text => text(ctx, writer, event),
            Self::Json => json(ctx, writer, event),
        }
    }
}

fn level_text(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

fn level_json(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "\"TRACE\"",
        Level::DEBUG => "\"DEBUG\"",
        Level::INFO => "\"INFO\"",
        Level::WARN => "\"WARN\"",
        Level::ERROR => "\"ERROR\"",
    }
}

fn text<S, N>(ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    timestamp(&mut writer)?;
    writer.write_char(' ')?;
    writer.write_str(level_text(event.metadata().level()))?;
    writer.write_char(' ')?;
    if let Some(scope) = ctx.event_scope() {
        let mut seen = false;
        for span in scope.from_root() {
            writer.write_str(span.metadata().name())?;
            seen = true;
            let ext = span.extensions();
            if let Some(fields) = ext.get::<FormattedFields<N>>()
                && !fields.is_empty()
            {
                writer.write_char('{')?;
                writer.write_str(fields)?;
                writer.write_char('}')?;
            }
            writer.write_char(':')?;
        }
        if seen {
            writer.write_char(' ')?;
        }
    }
    ctx.format_fields(writer.by_ref(), event)?;
    writer.write_char('\n')
}

fn json<S, N>(ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    writer.write_str("{\"timestamp\":\"")?;
    timestamp(&mut writer)?;
    writer.write_str("\",\"level\":")?;
    writer.write_str(level_json(event.metadata().level()))?;
    let mut fields = JsonFieldsVisitor {
        writer: &mut writer,
        result: Ok(()),
    };
    event.record(&mut fields);
    fields.result?;
    let current = event
        .parent()
        .and_then(|id| ctx.span(id))
        .or_else(|| ctx.lookup_current());
    if let Some(span) = current {
        writer.write_str(",\"span\":{")?;
        let ext = span.extensions();
        // The span's fields as the JSON field formatter stored them: a compact object with
        // sorted, distinct keys, so its members can be copied as they are.
        if let Some(stored) = ext.get::<FormattedFields<N>>() {
            let inner = stored
                .trim()
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .unwrap_or("");
            if !inner.is_empty() {
                writer.write_str(inner)?;
                writer.write_char(',')?;
            }
        }
        writer.write_str("\"name\":")?;
        json_str(&mut writer, span.metadata().name())?;
        writer.write_char('}')?;
    }
    writer.write_str("}\n")
}

/// The text format's fields (events and spans): what `tracing-subscriber`'s `DefaultFields`
/// writes without ANSI styling (`name=value` by `Debug`, the message first as it is with
/// terminal escapes neutralised, `r#` dropped from raw names), without building a style
/// object per field.
#[derive(Debug, Default)]
pub(super) struct TextFields;

impl<'w> tracing_subscriber::fmt::FormatFields<'w> for TextFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: Writer<'w>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = TextVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct TextVisitor<'w> {
    writer: Writer<'w>,
    is_empty: bool,
    result: fmt::Result,
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // Rare (an error recorded as `&dyn Error`, with its sources): the library's visitor.
        if self.result.is_err() {
            return;
        }
        let mut visitor = tracing_subscriber::fmt::format::DefaultVisitor::new(
            self.writer.by_ref(),
            self.is_empty,
        );
        visitor.record_error(field, value);
        self.is_empty = false;
        self.result = tracing_subscriber::field::VisitOutput::finish(visitor);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        // Log-crate metadata fields, which the library's visitor skips too.
        if name.starts_with("log.") {
            return;
        }
        if self.is_empty {
            self.is_empty = false;
        } else if let Err(e) = self.writer.write_char(' ') {
            self.result = Err(e);
            return;
        }
        self.result = match name {
            "message" if self.writer.sanitizes_ansi_escapes() => {
                write!(Escaping(&mut self.writer), "{value:?}")
            }
            "message" => write!(self.writer, "{value:?}"),
            name => {
                let name = name.strip_prefix("r#").unwrap_or(name);
                write!(self.writer, "{name}={value:?}")
            }
        };
    }
}

/// Writes terminal control characters as visible escapes, as the library does for messages.
struct Escaping<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut plain = 0;
        for (i, ch) in s.char_indices() {
            let escaped = match ch {
                '\x1b' => "\\x1b",
                '\x07' => "\\x07",
                '\x08' => "\\x08",
                '\x0c' => "\\x0c",
                '\x7f' => "\\x7f",
                '\u{80}'..='\u{9f}' => "",
                _ => continue,
            };
            self.0.write_str(&s[plain..i])?;
            if escaped.is_empty() {
                write!(self.0, "\\u{{{:x}}}", ch as u32)?;
            } else {
                self.0.write_str(escaped)?;
            }
            plain = i + ch.len_utf8();
        }
        self.0.write_str(&s[plain..])
    }
}

/// An event's fields as JSON members, with `tracing-serde`'s rules: numbers and booleans as
/// they are, strings escaped, anything else its `Debug` text as a string.
struct JsonFieldsVisitor<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl JsonFieldsVisitor<'_, '_> {
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = (|| {
                self.writer.write_char(',')?;
                json_str(self.writer, field.name())?;
                self.writer.write_char(':')?;
                value(self.writer)
            })();
        }
    }
}

impl Visit for JsonFieldsVisitor<'_, '_> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| json_value(w, |s| s.serialize_u64(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| json_value(w, |s| s.serialize_i64(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // Finite numbers by ryu (`1.0`, `1e300`), the others `null`: serde_json's rule.
        self.member(field, |w| json_value(w, |s| s.serialize_f64(value)));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| json_str(w, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |w| {
            json_value(w, |s| s.collect_str(&format_args!("{value:?}")))
        });
    }
}

type JsonSerializer<'a, 'w> = serde_json::Serializer<FmtWriter<'a, 'w>>;

/// One JSON value written by serde_json (the rules `tracing-serde` uses).
fn json_value(
    w: &mut Writer<'_>,
    write: impl FnOnce(&mut JsonSerializer<'_, '_>) -> serde_json::Result<()>,
) -> fmt::Result {
    write(&mut serde_json::Serializer::new(FmtWriter(w))).map_err(|_| fmt::Error)
}

/// A JSON string literal, escaped as serde_json escapes it.
fn json_str(w: &mut Writer<'_>, s: &str) -> fmt::Result {
    json_value(w, |ser| ser.serialize_str(s))
}

/// `io::Write` over a `fmt::Write` (serde_json writes whole UTF-8 sequences).
struct FmtWriter<'a, 'w>(&'a mut Writer<'w>);

impl std::io::Write for FmtWriter<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let s = std::str::from_utf8(buf).map_err(std::io::Error::other)?;
        self.0.write_str(s).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// The last whole second formatted on this thread and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// The current time as `tracing-subscriber`'s `SystemTime` timer writes it:
/// `2026-11-26T12:00:00.123456Z` (UTC, microseconds).
fn timestamp(w: &mut Writer<'_>) -> fmt::Result {
    let Ok(since) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        return tracing_subscriber::fmt::time::SystemTime.format_time(w);
    };
    let secs = since.as_secs();
    let (cached, mut text) = SECOND.get();
    if cached != secs {
        match civil(secs) {
            Some(t) => text = t,
            None => return tracing_subscriber::fmt::time::SystemTime.format_time(w),
        }
        SECOND.set((secs, text));
    }
    let mut micros = [b'.', b'0', b'0', b'0', b'0', b'0', b'0', b'Z'];
    let mut us = since.subsec_micros();
    for digit in micros[1..7].iter_mut().rev() {
        *digit = b'0' + (us % 10) as u8;
        us /= 10;
    }
    w.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)?;
    w.write_str(std::str::from_utf8(&micros).map_err(|_| fmt::Error)?)
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix time (UTC, proleptic Gregorian; Howard Hinnant's
/// days-to-civil), for years 1970–9999.
fn civil(secs: u64) -> Option<[u8; 19]> {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    if year > 9999 {
        return None;
    }
    let mut out = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, rem / 3_600);
    put(14, 2, rem % 3_600 / 60);
    put(17, 2, rem % 60);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{Line, civil};
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    impl Buf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[derive(Debug)]
    #[allow(dead_code, reason = "shown through Debug")]
    struct Thing {
        name: &'static str,
    }

    /// Events of every field kind, inside nested spans, outside spans, with an explicit
    /// parent, at every level, with text that needs escaping.
    fn events() {
        tracing::info!("plain message");
        tracing::warn!(
            answer = 42u64,
            delta = -7i64,
            ok = true,
            ratio = 0.25f64,
            "numbers"
        );
        tracing::info!(big = 1e300f64, whole = 3.0f64, nan = f64::NAN, "floats");
        tracing::error!(
            quoted = "say \"hi\"\n\ttab \u{1b}[31mred\u{1b}[0m é ü 😀",
            shown = %"display \"value\"",
            debug = ?Thing { name: "x\"y" },
            "escapes: \"q\" \\ \u{7f} \u{1b}[1m"
        );
        tracing::debug!(only = "fields");
        let io = std::io::Error::other("disk \u{9b}full");
        let err = std::fmt::Error;
        tracing::warn!(
            cause = &io as &(dyn std::error::Error + 'static),
            plain = &err as &(dyn std::error::Error + 'static),
            "C1 \u{9b}31m and \u{85} \u{7}bell \u{8}bs \u{c}ff"
        );
        tracing::trace!(r#type = "raw name", "trace");
        let outer = tracing::info_span!("outer", request_id = "abc-123", n = 5u64);
        let _o = outer.enter();
        tracing::info!(
            tool = "manage_projects",
            action = "get",
            upstream_status = 200u64,
            latency_ms = 1.25f64,
            "tool call"
        );
        let inner = tracing::info_span!("inner");
        {
            let _i = inner.enter();
            tracing::warn!(error = %"boom", "in the inner span");
        }
        let later = tracing::info_span!("later", a = tracing::field::Empty, b = "x");
        later.record("a", 7u64);
        later.in_scope(|| tracing::info!("after record"));
        let parent = tracing::info_span!("explicit", id = 9u64);
        tracing::info!(parent: &parent, "with an explicit parent");
        tracing::info!(parent: None, "a root event");
    }

    /// The line with its timestamp replaced (the two formatters read the clock apart).
    fn without_time(line: &str, json: bool) -> String {
        if json {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let ts = v["timestamp"].as_str().unwrap();
            assert!(ts.len() == 27 && ts.ends_with('Z'), "{ts}");
            line.replacen(ts, "T", 1)
        } else {
            let (ts, rest) = line.split_once(' ').unwrap();
            assert!(ts.len() == 27 && ts.ends_with('Z'), "{ts}");
            rest.to_owned()
        }
    }

    fn run(json: bool, ours: bool) -> Vec<String> {
        let buf = Buf::default();
        let builder = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(buf.clone())
            .with_target(false)
            .with_ansi(false);
        let dispatch = match (json, ours) {
            (false, false) => tracing::Dispatch::new(builder.finish()),
            (false, true) => tracing::Dispatch::new(
                builder
                    .fmt_fields(super::TextFields)
                    .event_format(Line::Text)
                    .finish(),
            ),
            (true, false) => tracing::Dispatch::new(
                builder
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .finish(),
            ),
            (true, true) => tracing::Dispatch::new(
                builder
                    .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                    .event_format(Line::Json)
                    .finish(),
            ),
        };
        tracing::dispatcher::with_default(&dispatch, events);
        buf.text().lines().map(|l| without_time(l, json)).collect()
    }

    #[test]
    fn text_lines_equal_the_library_format() {
        let (theirs, ours) = (run(false, false), run(false, true));
        assert_eq!(ours.len(), 12);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn json_lines_equal_the_library_format() {
        let (theirs, ours) = (run(true, false), run(true, true));
        assert_eq!(ours.len(), 12);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn timestamps_equal_the_library_clock() {
        use tracing_subscriber::fmt::format::Writer;
        use tracing_subscriber::fmt::time::FormatTime as _;
        // Bracketed by two library readings in the same second, ours must show that second.
        for _ in 0..100 {
            let (mut a, mut ours, mut b) = (String::new(), String::new(), String::new());
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut a))
                .unwrap();
            super::timestamp(&mut Writer::new(&mut ours)).unwrap();
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut b))
                .unwrap();
            assert_eq!(ours.len(), a.len());
            if a[..19] == b[..19] {
                assert_eq!(ours[..19], a[..19]);
                assert!(
                    a[19..] <= ours[19..] && ours[19..] <= b[19..],
                    "{a} {ours} {b}"
                );
            }
        }
    }

    #[test]
    fn civil_dates() {
        let at = |s: u64| String::from_utf8(civil(s).unwrap().to_vec()).unwrap();
        assert_eq!(at(0), "1970-01-01T00:00:00");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(at(951_868_799), "2000-02-29T23:59:59");
        assert_eq!(at(1_709_164_800), "2024-02-29T00:00:00");
        assert_eq!(at(1_798_761_599), "2026-12-31T23:59:59");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59");
        assert_eq!(civil(253_402_300_800), None);
    }
}
