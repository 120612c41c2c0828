//! Batches on the device: random windows of a text for pretraining, padded examples with a
//! response mask for SFT, and chosen/rejected pairs for DPO. Text windows are cut on the device
//! from the corpus kept there, so a pretraining step copies nothing from the host.

use crate::model::Transformer;
use ratlab::data::lm::Example;
use tch::{Device, Kind, Tensor};

/// Label that the loss ignores (prompt and padding positions).
pub const IGNORE: i64 = -100;

/// A text corpus (token ids) on the device, cut into `context + 1`-token windows.
pub struct TextWindows {
    data: Tensor,
    len: i64,
    context: i64,
}

impl TextWindows {
    pub fn new(ids: &[u32], context: usize, device: Device) -> TextWindows {
        let wide: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
        let data = Tensor::from_slice(&wide).to_device(device);
        TextWindows { len: ids.len() as i64, data, context: context as i64 }
    }
    /// The usable window length: the context, or less for a short text.
    pub fn window(&self) -> i64 {
        self.context.min(self.len - 1)
    }
    /// `batch` windows at random starts (torch's seeded generator): inputs and next-byte targets.
    pub fn random(&self, batch: usize) -> (Tensor, Tensor) {
        let w = self.window();
        let starts = Tensor::randint(self.len - w, [batch as i64, 1], (Kind::Int64, self.data.device()));
        let idx = starts + Tensor::arange(w + 1, (Kind::Int64, self.data.device())).unsqueeze(0);
        let win = self.data.take(&idx);
        (win.narrow(1, 0, w), win.narrow(1, 1, w))
    }
    /// Consecutive non-overlapping windows from the start, at most `max` (evaluation).
    pub fn fixed(&self, max: usize) -> Vec<(Tensor, Tensor)> {
        let w = self.window();
        let n = ((self.len - 1) / w).max(1).min(max as i64);
        (0..n).map(|i| (self.data.narrow(0, i * w, w).unsqueeze(0), self.data.narrow(0, i * w + 1, w).unsqueeze(0))).collect()
    }
}

/// Examples padded to the longest: inputs, and targets that are IGNORE except where the next
/// token is learned.
pub fn pad_examples(examples: &[&Example], device: Device) -> (Tensor, Tensor) {
    let width = examples.iter().map(|e| e.tokens.len() - 1).max().unwrap_or(1).max(1);
    let mut input = vec![0i64; examples.len() * width];
    let mut target = vec![IGNORE; examples.len() * width];
    for (r, e) in examples.iter().enumerate() {
        for i in 0..e.tokens.len() - 1 {
            input[r * width + i] = i64::from(e.tokens[i]);
            // Position i predicts token i + 1; only learned tokens count.
            if e.learn[i + 1] {
                target[r * width + i] = i64::from(e.tokens[i + 1]);
            }
        }
    }
    let shape = [examples.len() as i64, width as i64];
    (Tensor::from_slice(&input).view(shape).to_device(device), Tensor::from_slice(&target).view(shape).to_device(device))
}

/// Mean cross-entropy over the counted positions, in nats per byte.
pub fn loss(logits: &Tensor, targets: &Tensor) -> Tensor {
    let v = logits.size()[2];
    logits.reshape([-1, v]).cross_entropy_loss::<Tensor>(&targets.reshape([-1]), None, tch::Reduction::Mean, IGNORE, 0.0)
}

/// The final hidden states at the counted positions only (`[N, d]`), their targets (`[N]`) and
/// rows (`[N]`): the head then runs on N rows instead of B·T. With a 49k vocabulary the logits
/// of every position are most of a step's memory, and SFT and DPO count only the responses.
fn counted(model: &Transformer, inputs: &Tensor, targets: &Tensor, train: bool) -> (Tensor, Tensor, Tensor) {
    let hidden = model.hidden(inputs, None, train);
    let mask = targets.ne(IGNORE);
    let (b, t) = (targets.size()[0], targets.size()[1]);
    let rows = Tensor::arange(b, (Kind::Int64, targets.device())).unsqueeze(1).expand([b, t], false);
    (hidden.index(&[Some(&mask)]), targets.masked_select(&mask), rows.masked_select(&mask))
}

/// Mean cross-entropy over the counted targets of padded examples (SFT), the head applied at
/// those positions only.
pub fn response_loss(model: &Transformer, inputs: &Tensor, targets: &Tensor, train: bool) -> Tensor {
    let (h, y, _) = counted(model, inputs, targets, train);
    model.logits(&h).cross_entropy_loss::<Tensor>(&y, None, tch::Reduction::Mean, IGNORE, 0.0)
}

/// Summed log-probability of each row's counted targets (`[B]`), the head applied at those
/// positions only.
pub fn sequence_logp(model: &Transformer, inputs: &Tensor, targets: &Tensor, train: bool) -> Tensor {
    let (h, y, rows) = counted(model, inputs, targets, train);
    let lp = model.logits(&h).log_softmax(-1, Kind::Float).gather(-1, &y.unsqueeze(-1), false).squeeze_dim(-1);
    Tensor::zeros([targets.size()[0]], (Kind::Float, targets.device())).index_add(0, &rows, &lp)
}
