//! Where alerts go. The CLI writes them to stdout; tests keep them in memory; the Lambda
//! publishes them to SNS.

use crate::alert::Alert;
use std::io::{self, Write};

pub trait Sink {
    fn publish(&mut self, alert: &Alert) -> io::Result<()>;
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
