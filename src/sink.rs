//! Where alerts go. The CLI writes them to stdout; tests keep them in memory; the Lambda
//! publishes them to SNS.

use crate::alert::Alert;
use std::io::{self, Write};

pub trait Sink {
    fn publish(&mut self, alert: &Alert) -> io::Result<()>;
}

/// No sink: alerts go nowhere (e.g. the second half of a [`Tee`] when nobody asked for it).
impl<S: Sink> Sink for Option<S> {
    fn publish(&mut self, alert: &Alert) -> io::Result<()> {
        match self {
            Some(s) => s.publish(alert),
            None => Ok(()),
        }
    }
}

/// Every alert to both sinks, first to `.0`: `scan` prints its alerts and keeps them for
/// `--report`. The first sink's error stops the alert before the second sees it.
pub struct Tee<A, B>(pub A, pub B);

impl<A: Sink, B: Sink> Sink for Tee<A, B> {
    fn publish(&mut self, alert: &Alert) -> io::Result<()> {
        self.0.publish(alert)?;
        self.1.publish(alert)
    }
}

/// Alerts kept in memory.
#[derive(Debug, Default)]
pub struct Memory {
    pub alerts: Vec<Alert>,
}

impl Sink for Memory {
    fn publish(&mut self, alert: &Alert) -> io::Result<()> {
        self.alerts.push(alert.clone());
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// A few lines per alert, for people.
    Text,
}

/// Alerts written to a stream.
pub struct Writer<W: Write> {
    out: W,
    format: Format,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W, format: Format) -> Self {
        Writer { out, format }
    }
}

impl<W: Write> Sink for Writer<W> {
    fn publish(&mut self, alert: &Alert) -> io::Result<()> {
        match self.format {
            Format::Json => {
                serde_json::to_writer(&mut self.out, alert)?;
                self.out.write_all(b"\n")?;
            }
            Format::Text => {
                self.out.write_all(alert.to_text().as_bytes())?;
                self.out.write_all(b"\n")?;
            }
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::rules::{RuleFile, RuleSet};

    fn alert(name: &str) -> Alert {
        let file = RuleFile {
            path: "a.yaml".into(),
            text: "id: a\ntitle: t {eventName}\nseverity: low\nmatch:\n  eventName: {prefix: ''}\n"
                .into(),
        };
        let (set, diags) = RuleSet::compile(&[file], &[], &[], 0);
        let set = set.unwrap_or_else(|| panic!("{diags:?}"));
        let event = Event::from_value(serde_json::json!({ "eventName": name })).unwrap();
        Alert::new(&set.rules()[0], &event, 1, 0)
    }

    #[test]
    fn a_tee_prints_and_keeps_every_alert_in_order() {
        let mut out = Vec::new();
        let mut tee = Tee(Writer::new(&mut out, Format::Json), Some(Memory::default()));
        for n in ["A", "B"] {
            tee.publish(&alert(n)).unwrap();
        }
        let Tee(_, kept) = tee;
        let titles: Vec<String> = kept.unwrap().alerts.into_iter().map(|a| a.title).collect();
        assert_eq!(titles, ["t A", "t B"]);
        let printed = String::from_utf8(out).unwrap();
        assert_eq!(printed.lines().count(), 2, "{printed}");
        assert!(printed.contains("\"title\":\"t B\""), "{printed}");
    }

    #[test]
    fn a_tee_without_its_second_sink_still_prints() {
        let mut out = Vec::new();
        let mut tee = Tee(Writer::new(&mut out, Format::Text), None::<Memory>);
        tee.publish(&alert("A")).unwrap();
        drop(tee);
        assert!(String::from_utf8(out).unwrap().starts_with("[LOW] t A (a)"));
    }
}
