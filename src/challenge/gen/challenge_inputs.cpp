// Challenge inputs from 28 x 28 images: interpft-style upsampling and an order-statistic threshold.
//
// The upsampling is linear, so each axis is one real n x 28 matrix A (A's column s is the interpft of
// the unit impulse at s), and an image becomes A * img * A^T. The threshold needs the K-th largest of
// count * N values (3.9e9 at N = 65536: too many to keep), so it is found in three streaming passes:
// a fine histogram, then the values inside the bin that holds the K-th, then the features themselves.
#include <omp.h>

#include <algorithm>
#include <memory>
#include <cmath>
#include <complex>
#include <fmt/format.h>
#include <numbers>

#include "challenge/gen/interpft.hpp"
#include "core/parallel_errors.hpp"
#include "core/rng.hpp"
#include "spdnn/error.hpp"
#include "spdnn/challenge/generate.hpp"

namespace spdnn {

std::vector<double> interpft_matrix(int32_t m, int32_t n) {
  using cd = std::complex<double>;
  if (m < 1 || n < m) throw Error(Errc::usage, fmt::format("interpft from {} to {} samples: it only upsamples", m, n));
  const double two_pi = 2 * std::numbers::pi;
  std::vector<double> a(static_cast<size_t>(n) * m);
  const int32_t nyquist = (m + 1 + 1) / 2 - 1;  // 0-based index of MATLAB's ceil((m+1)/2)
  for (int32_t s = 0; s < m; ++s) {
    // Spectrum of the impulse at s: X[k] = exp(-2 pi i k s / m).
    std::vector<cd> b(n, 0.0);
    for (int32_t k = 0; k < m; ++k) {
      cd xk = std::polar(1.0, -two_pi * k * s / m);
      int32_t at = k <= nyquist ? k : k + (n - m);
      b[at] = xk;
    }
    if (m % 2 == 0) {  // split the Nyquist bin half/half
      b[nyquist] /= 2.0;
      b[nyquist + n - m] = b[nyquist];
    }
    for (int32_t x = 0; x < n; ++x) {
      cd sum = 0.0;
      for (int32_t k = 0; k < n; ++k) sum += b[k] * std::polar(1.0, two_pi * k * x / n);
      a[static_cast<size_t>(x) * m + s] = (sum / static_cast<double>(n)).real() * n / m;
    }
  }
  return a;
}

namespace {

// The two interpolation matrices of one upsampling (read-only, shared by all threads and passes).
struct Interpolation {
  int32_t n;
  std::vector<double> a;   // n x rows: upsamples along rows
  std::vector<double> at;  // A transposed (rows x n), for the contiguous inner loop
  std::vector<double> b;   // n x cols: upsamples along columns
  Interpolation(const SourceImages& src, int32_t n_out)
      : n(n_out), a(interpft_matrix(src.rows, n_out)), at(static_cast<size_t>(src.rows) * n_out),
        b(src.cols == src.rows ? a : interpft_matrix(src.cols, n_out)) {
    for (int32_t r = 0; r < n; ++r)
      for (int32_t s = 0; s < src.rows; ++s) at[static_cast<size_t>(s) * n + r] = a[static_cast<size_t>(r) * src.rows + s];
  }
};

// Upsamples images and visits every value; one Upsampler (scratch space) per thread.
class Upsampler {
 public:
  Upsampler(const SourceImages& src, const Interpolation& m)
      : src_(src), n_(m.n), at_(m.at), b_(m.b), tmp_(static_cast<size_t>(src.rows) * m.n),
        out_(static_cast<size_t>(m.n) * m.n) {}

  // out[c * n + r] (column-major, the neuron order) for image `i`.
  const std::vector<double>& image(int64_t i) {
    const int32_t h = src_.rows, w = src_.cols;
    const uint8_t* img = &src_.pixels[static_cast<size_t>(i) * h * w];
    // tmp[s][c] = sum_t img[s][t] * B[c][t]   (columns upsampled)
    std::fill(tmp_.begin(), tmp_.end(), 0.0);
    for (int32_t s = 0; s < h; ++s)
      for (int32_t t = 0; t < w; ++t) {
        const double v = img[s * w + t];
        if (v == 0.0) continue;
        double* row = &tmp_[static_cast<size_t>(s) * n_];
        for (int32_t c = 0; c < n_; ++c) row[c] += v * b_[static_cast<size_t>(c) * w + t];
      }
    // out[c][r] = sum_s A[r][s] * tmp[s][c]   (rows upsampled; s ascending for every output, with the
    // innermost loop over r contiguous in both out and At)
    std::fill(out_.begin(), out_.end(), 0.0);
    for (int32_t c = 0; c < n_; ++c) {
      double* col = &out_[static_cast<size_t>(c) * n_];
      for (int32_t s = 0; s < h; ++s) {
        const double t = tmp_[static_cast<size_t>(s) * n_ + c];
        if (t == 0.0) continue;
        const double* at = &at_[static_cast<size_t>(s) * n_];
        for (int32_t r = 0; r < n_; ++r) col[r] += t * at[r];
      }
    }
    return out_;
  }

 private:
  const SourceImages& src_;
  int32_t n_;
  const std::vector<double>& at_;  // A transposed
  const std::vector<double>& b_;
  std::vector<double> tmp_, out_;
};

int32_t side_of(int64_t neurons) {
  const auto n = static_cast<int32_t>(std::llround(std::sqrt(static_cast<double>(neurons))));
  if (int64_t{n} * n != neurons || n < 2)
    throw Error(Errc::usage, fmt::format("inputs need a square N (n x n images); {} is not", neurons));
  return n;
}

}  // namespace

std::optional<int64_t> official_input_nnz(int64_t neurons) {
  switch (neurons) {
    case 1024: return 6374505;
    case 4096: return 25019051;
    case 16384: return 98858913;
    case 65536: return 392191985;
    default: return std::nullopt;
  }
}

int64_t input_target_nnz(int64_t neurons, int64_t count) {
  if (auto official = official_input_nnz(neurons))
    return static_cast<int64_t>(std::llround(static_cast<double>(*official) * count / 60000.0));
  return static_cast<int64_t>(std::llround(0.10375 * static_cast<double>(count) * neurons));
}

GeneratedInputs challenge_inputs(const SourceImages& src, int32_t neurons, int64_t count) {
  const int32_t n = side_of(neurons);
  // interpft upsamples; images smaller than the source (N = 64 gives 8 x 8 from 28 x 28) wrote past its
  // spectrum's end. The challenge's sizes are all larger (N = 1024: 32 x 32).
  if (n < src.rows || n < src.cols)
    throw Error(Errc::usage, fmt::format("inputs of N = {} are {} x {} images, smaller than the {} x {} source images: "
                                         "N must be at least {}", neurons, n, n, src.rows, src.cols,
                                         int64_t{std::max(src.rows, src.cols)} * std::max(src.rows, src.cols)));
  if (count <= 0 || count > src.count) count = src.count;
  const int64_t target = input_target_nnz(neurons, count);
  const int threads = std::max(1, omp_get_max_threads());
  const Interpolation interpolation(src, n);  // once: building it costs O(n^2 * 28) complex exponentials

  // Pass 1: histogram of all values over [lo, hi); values outside fall into the end bins.
  constexpr double lo = -512.0, hi = 768.0;
  constexpr int64_t bins = int64_t{1} << 22;
  constexpr double scale = bins / (hi - lo);
  auto bin_of = [&](double v) { return std::clamp<int64_t>(static_cast<int64_t>((v - lo) * scale), 0, bins - 1); };
  std::vector<std::vector<uint64_t>> hist(threads);
  ParallelErrors errors(threads);  // (every thread must reach each `omp for`, so failures only skip work)
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    std::unique_ptr<Upsampler> up;  // (not optional: GCC 12 warns of a false uninitialized use)
    errors.run(t, [&] { up = std::make_unique<Upsampler>(src, interpolation), hist[t].assign(bins, 0); });
#pragma omp for schedule(dynamic, 64)
    for (int64_t i = 0; i < count; ++i)
      if (!errors.failed(t))
        errors.run(t, [&] {
          for (double v : up->image(i)) ++hist[t][bin_of(v)];
        });
  }
  errors.rethrow();
  for (int t = 1; t < threads; ++t)
    for (int64_t b = 0; b < bins; ++b) hist[0][b] += hist[t][b];
  // The bin holding the target-th largest value (counting from the top).
  int64_t above = 0, bin = bins - 1;
  while (bin > 0 && above + static_cast<int64_t>(hist[0][bin]) < target) above += hist[0][bin--];
  hist = {};

  // Pass 2: the values inside that bin; the threshold is the one with exactly `target` values above.
  std::vector<std::vector<double>> inside(threads);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    std::unique_ptr<Upsampler> up;  // (not optional: GCC 12 warns of a false uninitialized use)
    errors.run(t, [&] { up = std::make_unique<Upsampler>(src, interpolation); });
#pragma omp for schedule(dynamic, 64)
    for (int64_t i = 0; i < count; ++i)
      if (!errors.failed(t))
        errors.run(t, [&] {
          for (double v : up->image(i))
            if (bin_of(v) == bin) inside[t].push_back(v);
        });
  }
  errors.rethrow();
  std::vector<double> vals;
  for (auto& v : inside) vals.insert(vals.end(), v.begin(), v.end());
  std::sort(vals.begin(), vals.end(), std::greater<>());
  const int64_t need = target - above;  // values from this bin that must be on
  double threshold;
  if (need <= 0) threshold = lo + (bin + 1) / scale;
  else if (need >= static_cast<int64_t>(vals.size())) threshold = std::nextafter(vals.back(), -1e300);
  else threshold = vals[need];  // everything strictly greater is on: vals[0 .. need-1]

  // Pass 3: the features, rows in image order, neurons ascending (column-major within the image).
  std::vector<CsrMatrix> parts(threads);
  const int64_t per = (count + threads - 1) / threads;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    errors.run(t, [&] {
      Upsampler up(src, interpolation);
      CsrMatrix& part = parts[t];
      for (int64_t i = t * per; i < std::min(count, (t + 1) * per); ++i) {
        const auto& img = up.image(i);
        for (int32_t j = 0; j < neurons; ++j)
          if (img[j] > threshold) part.col_idx.push_back(j), part.values.push_back(1.0f);
        part.row_ptr.push_back(part.nnz());
      }
    });
  }
  errors.rethrow();
  GeneratedInputs g;
  g.threshold = threshold;
  g.target_nnz = target;
  CsrMatrix& m = g.features.matrix;
  m.rows = count;
  m.cols = neurons;
  for (CsrMatrix& part : parts) {
    const int64_t base = m.nnz();
    for (size_t k = 1; k < part.row_ptr.size(); ++k) m.row_ptr.push_back(base + part.row_ptr[k]);
    m.col_idx.insert(m.col_idx.end(), part.col_idx.begin(), part.col_idx.end());
    m.values.insert(m.values.end(), part.values.begin(), part.values.end());
    part = {};
  }
  return g;
}

SourceImages synthetic_digits(int64_t count, uint64_t seed) {
  constexpr int32_t side = 28;
  SourceImages s;
  s.count = count;
  s.rows = s.cols = side;
  s.pixels.assign(static_cast<size_t>(count) * side * side, 0);
  gen::Rng rng(seed);
  std::vector<double> img(side * side);
  for (int64_t i = 0; i < count; ++i) {
    std::fill(img.begin(), img.end(), 0.0);
    const int strokes = 1 + static_cast<int>(rng.below(3));
    for (int k = 0; k < strokes; ++k) {
      // A quadratic Bezier curve inside the central 20 x 20 box, drawn with a soft round pen.
      double p[3][2];
      for (auto& pt : p) pt[0] = 4 + 20 * rng.uniform(), pt[1] = 4 + 20 * rng.uniform();
      const double width = 1.0 + 0.6 * rng.uniform();
      for (int step = 0; step <= 60; ++step) {
        const double u = step / 60.0, a = (1 - u) * (1 - u), b = 2 * u * (1 - u), c = u * u;
        const double y = a * p[0][0] + b * p[1][0] + c * p[2][0], x = a * p[0][1] + b * p[1][1] + c * p[2][1];
        for (int r = std::max(0, static_cast<int>(y) - 3); r <= std::min(side - 1, static_cast<int>(y) + 3); ++r)
          for (int q = std::max(0, static_cast<int>(x) - 3); q <= std::min(side - 1, static_cast<int>(x) + 3); ++q) {
            const double d2 = (r - y) * (r - y) + (q - x) * (q - x);
            img[r * side + q] = std::max(img[r * side + q], 255.0 * std::exp(-d2 / (2 * width * width)));
          }
      }
    }
    for (int j = 0; j < side * side; ++j)
      s.pixels[static_cast<size_t>(i) * side * side + j] = static_cast<uint8_t>(std::lround(img[j]));
  }
  return s;
}

}  // namespace spdnn
