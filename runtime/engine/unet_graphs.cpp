#include "runtime/engine/unet_graphs.hpp"

#include "runtime/engine/cuda_devices.hpp"
#include "runtime/engine/nn_ops.hpp"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/InferenceMode.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace sdw {

/// One captured shape: the graph, the inputs it reads and the output it writes.
struct unet_graphs::entry {
  at::cuda::CUDAGraph graph;
  at::Tensor x, t, context, y, out;  ///< y undefined for UNets without a label embedding
  uint64_t used = 0;
  int64_t bytes = 0;  ///< what the allocator reserved for the capture (its private pool)
};

namespace {

std::vector<int64_t> sizes_of(const at::Tensor& t) { return t.defined() ? t.sizes().vec() : std::vector<int64_t>{}; }

double relative_difference(const at::Tensor& a, const at::Tensor& b) {
  const double scale = std::max(b.abs().max().item<double>(), 1e-6);
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>() / scale;
}

} // namespace

unet_graphs::unet_graphs(size_t capacity, double memory_share)
  : capacity_(std::max<size_t>(1, capacity)), memory_share_(memory_share) {}

void unet_graphs::evict_for(int64_t bytes, int device) {
  const auto total = static_cast<int64_t>(at::cuda::getDeviceProperties(device)->totalGlobalMem);
  const auto budget = static_cast<int64_t>(memory_share_ * static_cast<double>(total));
  const auto held = [&] {
    int64_t sum = 0;
    for (const auto& [k, e] : graphs_) {
      sum += e->bytes;
    }
    return sum;
  };
  while (!graphs_.empty() && (graphs_.size() >= capacity_ || held() + bytes > budget)) {
    auto oldest = std::min_element(graphs_.begin(), graphs_.end(),
                                   [](const auto& a, const auto& b) { return a.second->used < b.second->used; });
    graphs_.erase(oldest);
  }
}
unet_graphs::~unet_graphs() = default;

bool unet_graphs::enabled() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return enabled_;
}

void unet_graphs::set_enabled(bool on) {
  std::lock_guard<std::mutex> lock(mutex_);
  enabled_ = on;
  if (!on) {
    graphs_.clear();
  }
}

void unet_graphs::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  graphs_.clear();
}

unet_graphs::entry* unet_graphs::capture(const key& k, const at::Tensor& x, const at::Tensor& t,
                                         const at::Tensor& context, const at::Tensor& y, const forward_fn& eager,
                                         at::Tensor& eager_out) {
  const c10::Device device = x.device();
  // Room for this shape's pool: the size of the last capture is the best guess of the next.
  int64_t guess = 0;
  for (const auto& [k, other] : graphs_) {
    guess = std::max(guess, other->bytes);
  }
  evict_for(guess, device.index());
  const int64_t reserved_before = cuda_memory_of(device.index()).reserved;
  auto e = std::make_unique<entry>();
  e->x = x.clone();
  e->t = t.to(device, at::kFloat).clone();
  e->context = context.to(device).clone();
  if (y.defined()) e->y = y.to(device).clone();
  // Capture runs on a side stream: the first pass there (outside the capture) picks cuDNN's
  // algorithms and creates cuBLAS's workspaces, which must not happen while capturing.
  auto current = c10::cuda::getCurrentCUDAStream(device.index());
  current.synchronize();
  auto side = c10::cuda::getStreamFromPool(false, device.index());
  {
    c10::cuda::CUDAStreamGuard on_side(side);
    eager_out = eager(e->x, e->t, e->context, e->y);
    side.synchronize();
    // Thread-local capture: other executors' threads may allocate on their own devices meanwhile.
    e->graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
    try {
      e->out = eager(e->x, e->t, e->context, e->y);
    } catch (...) {
      try {
        e->graph.capture_end();
      } catch (...) {
      }
      throw;
    }
    e->graph.capture_end();
    side.synchronize();
  }
  e->bytes = std::max<int64_t>(0, cuda_memory_of(device.index()).reserved - reserved_before);
  evict_for(e->bytes, device.index());
  return graphs_.emplace(k, std::move(e)).first->second.get();
}

at::Tensor unet_graphs::run(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context, const at::Tensor& y,
                            const forward_fn& eager) {
  c10::InferenceMode inference;  // the captured inputs are inference tensors, filled in inference mode
  std::unique_lock<std::mutex> lock(mutex_);
  if (!enabled_ || !x.is_cuda()) {
    lock.unlock();
    return eager(x, t, context, y);
  }
  const key k{sizes_of(x), sizes_of(t), sizes_of(context), sizes_of(y), static_cast<int>(x.scalar_type()),
              static_cast<int>(context.scalar_type()), nn::circular_padding(), x.device().index()};
  auto it = graphs_.find(k);
  entry* e = it == graphs_.end() ? nullptr : it->second.get();
  if (e == nullptr) {
    at::Tensor eager_out;
    try {
      e = capture(k, x, t, context, y, eager, eager_out);
    } catch (const std::exception& err) {
      graphs_.clear();
      const std::string what = err.what();
      if (what.find("out of memory") != std::string::npos) {
        // The graphs gave their memory back; this step runs eagerly and later shapes try again.
        spdlog::warn("CUDA graphs dropped: no memory to capture the step of a {}-row batch", x.size(0));
      } else {
        spdlog::warn("CUDA graphs off: capturing the UNet failed ({}); steps run without them", what.substr(0, 300));
        enabled_ = false;
      }
      lock.unlock();
      return eager_out.defined() ? eager_out : eager(x, t, context, y);
    }
    if (!verified_) {
      // The first capture's replay must give what the eager pass gave for the same inputs.
      e->graph.replay();
      const double diff = relative_difference(e->out, eager_out);
      if (diff > 1e-3) {
        spdlog::warn("CUDA graphs off: the replayed UNet differs from the eager one by {:.2e}", diff);
        enabled_ = false;
        graphs_.clear();
        return eager_out;
      }
      verified_ = true;
      spdlog::info("CUDA graphs on: the UNet replay matches the eager pass (max relative difference {:.1e})", diff);
    }
    e->used = ++clock_;
    return eager_out;
  }
  e->used = ++clock_;
  e->x.copy_(x, true);
  e->t.copy_(t, true);
  e->context.copy_(context, true);
  if (y.defined()) e->y.copy_(y, true);
  e->graph.replay();
  return e->out.clone();
}

} // namespace sdw
