//! The pictures: the learned weight templates, the confusion matrix, and the training curves,
//! drawn with plotters into RGB buffers and encoded as PNG.

use std::io::Cursor;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::data::PIXELS;
use crate::eval::Evaluation;
use crate::history::LogPoint;
use crate::model::FloatModel;
use crate::settings::Config;

/// DejaVu Sans Mono (see assets/DejaVu-LICENSE): text without depending on system fonts.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");
const FAMILY: &str = "sans-serif";

/// A picture could not be drawn or encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw {picture}: {message}")]
pub struct PlotError {
    picture: &'static str,
    message: String,
}

fn error(picture: &'static str) -> impl Fn(&dyn std::fmt::Display) -> PlotError {
    move |e| PlotError { picture, message: e.to_string() }
}

/// Draws into a `width` x `height` white canvas and encodes it as PNG.
fn png(
    picture: &'static str,
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<Vec<u8>, PlotError> {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        // The bundled font is valid; if it were not, text would fail to draw below.
        let _ = register_font(FAMILY, FontStyle::Normal, FONT);
    });
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        draw(&root).map_err(|e| error(picture)(&e))?;
        root.present().map_err(|e| error(picture)(&e))?;
    }
    let image = image::RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| error(picture)(&"buffer size"))?;
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).map_err(|e| error(picture)(&e))?;
    Ok(bytes.into_inner())
}

/// Blue for negative, white for zero, red for positive; `t` in [-1, 1].
fn diverging(t: f32) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let fade = |c: u8, amount: f32| (255.0 - (255.0 - f32::from(c)) * amount) as u8;
    if t >= 0.0 {
        RGBColor(fade(178, t), fade(24, t), fade(43, t))
    } else {
        RGBColor(fade(33, -t), fade(102, -t), fade(172, -t))
    }
}

/// The ten weight templates as a 2x5 grid of 28x28 heat maps, each scaled to its own largest
/// magnitude: what makes each digit's logit go up (red) or down (blue).
pub fn weights(model: &FloatModel) -> Result<Vec<u8>, PlotError> {
    const CELL: i32 = 6;
    let side = 28 * CELL;
    png("the weights", (5 * (side as u32 + 20) + 20, 2 * (side as u32 + 36) + 50), |root| {
        let text = |size| (FAMILY, size).into_font();
        root.draw_text(
            "Learned weights per class (red +, blue -)",
            &text(20).color(&BLACK),
            (20, 12),
        )
        .map_err(|e| e.to_string())?;
        for (class, row) in model.weight().chunks_exact(PIXELS).enumerate() {
            let max = row.iter().fold(f32::MIN_POSITIVE, |m, w| m.max(w.abs()));
            let (x0, y0) =
                (20 + (class as i32 % 5) * (side + 20), 50 + (class as i32 / 5) * (side + 36));
            root.draw_text(&class.to_string(), &text(18).color(&BLACK), (x0 + side / 2 - 5, y0))
                .map_err(|e| e.to_string())?;
            for (i, &w) in row.iter().enumerate() {
                let (x, y) = (x0 + (i as i32 % 28) * CELL, y0 + 24 + (i as i32 / 28) * CELL);
                let cell =
                    Rectangle::new([(x, y), (x + CELL, y + CELL)], diverging(w / max).filled());
                root.draw(&cell).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    })
}

/// What the confusion matrix shows: `train` and `plot` draw the same picture.
const CONFUSION_TITLE: &str = "Confusion matrix: int8, run by infer-core, test set";

/// The title of the training curves: what was trained, how.
pub fn training_title(config: &Config) -> String {
    format!(
        "{} preset: {}, batch {}, seed {}",
        config.preset, config.optimizer, config.batch_size, config.seed
    )
}

/// The int8 model's confusion matrix on the test set as a heat map with counts; colour is the
/// share of the true class.
pub fn confusion(evaluation: &Evaluation) -> Result<Vec<u8>, PlotError> {
    const CELL: i32 = 48;
    let (left, top) = (80, 70);
    let size = (left as u32 + 10 * CELL as u32 + 20, top as u32 + 10 * CELL as u32 + 40);
    png("the confusion matrix", size, |root| {
        let text = |size| (FAMILY, size).into_font();
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        root.draw_text(CONFUSION_TITLE, &text(18).color(&BLACK), (10, 10)).map_err(e)?;
        root.draw_text("predicted ->", &text(15).color(&BLACK), (left + 4 * CELL, top - 40))
            .map_err(e)?;
        root.draw_text("label", &text(15).color(&BLACK), (10, top + 5 * CELL)).map_err(e)?;
        for (label, row) in evaluation.confusion.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f32;
            let y = top + label as i32 * CELL;
            root.draw_text(&label.to_string(), &text(16).color(&BLACK), (left - 20, y + CELL / 3))
                .map_err(e)?;
            for (predicted, &count) in row.iter().enumerate() {
                let x = left + predicted as i32 * CELL;
                if label == 0 {
                    root.draw_text(
                        &predicted.to_string(),
                        &text(16).color(&BLACK),
                        (x + CELL / 2 - 5, top - 20),
                    )
                    .map_err(e)?;
                }
                // sqrt makes the few off-diagonal confusions visible next to the diagonal.
                let share = (count as f32 / total).sqrt();
                let fill = if label == predicted { diverging(share) } else { diverging(-share) };
                root.draw(&Rectangle::new([(x, y), (x + CELL, y + CELL)], fill.filled()))
                    .map_err(e)?;
                root.draw(&Rectangle::new([(x, y), (x + CELL, y + CELL)], RGBColor(220, 220, 220)))
                    .map_err(e)?;
                let colour = if share > 0.6 { WHITE } else { BLACK };
                let label_text = count.to_string();
                let dx = 4 * label_text.len() as i32;
                root.draw_text(
                    &label_text,
                    &text(13).color(&colour),
                    (x + CELL / 2 - dx, y + CELL / 2 - 7),
                )
                .map_err(e)?;
            }
        }
        Ok(())
    })
}

/// Mean training loss and float test accuracy at each logged point of training.
pub fn training(history: &[LogPoint], title: &str) -> Result<Vec<u8>, PlotError> {
    png("the training curves", (800, 600), |root| {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let last = history.last().map_or(1, |p| p.iteration) as f64;
        let (upper, lower) = root.split_vertically(300);
        let max_loss = history.iter().map(|p| f64::from(p.mean_loss)).fold(0.1, f64::max);
        let mut chart = ChartBuilder::on(&upper)
            .caption(title, (FAMILY, 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..last, 0.0..max_loss * 1.1)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .y_desc("mean training loss")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .light_line_style(WHITE)
            .label_style((FAMILY, 13))
            .draw()
            .map_err(|x| e(&x))?;
        let loss = history.iter().map(|p| (p.iteration as f64, f64::from(p.mean_loss)));
        chart
            .draw_series(LineSeries::new(loss, RGBColor(178, 24, 43).stroke_width(2)))
            .map_err(|x| e(&x))?;

        let low = history.iter().map(|p| p.test_accuracy).fold(100.0, f64::min);
        let mut chart = ChartBuilder::on(&lower)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..last, (low - 1.0).max(0.0)..100.0_f64.min(low.max(90.0) + 3.0))
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("iteration")
            .y_desc("test accuracy (%)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .light_line_style(WHITE)
            .label_style((FAMILY, 13))
            .draw()
            .map_err(|x| e(&x))?;
        let accuracy = history.iter().map(|p| (p.iteration as f64, p.test_accuracy));
        chart
            .draw_series(LineSeries::new(accuracy, RGBColor(33, 102, 172).stroke_width(2)))
            .map_err(|x| e(&x))?;
        Ok(())
    })
}
