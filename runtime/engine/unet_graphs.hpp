#pragma once
/// The UNet's forward pass on CUDA as captured CUDA graphs, one per input shape, replayed on
/// every later step: a sampling step then costs one launch instead of ~1000 kernel launches
/// from the CPU, which is what bounds small batches on a fast GPU.

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

namespace sdw {

class unet_graphs {
public:
  /// y is undefined for UNets without a label embedding.
  using forward_fn = std::function<at::Tensor(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                                              const at::Tensor& y)>;

  /// Each captured shape keeps its activations' memory for its replays: the graphs together hold
  /// at most `memory_share` of the device's memory and at most `capacity` shapes; the least
  /// recently used goes first.
  explicit unet_graphs(size_t capacity = 8, double memory_share = 0.2);
  ~unet_graphs();

  /// eager(x, t, context, y) through the graph for these shapes, captured on first use (y, when
  /// defined, is one of the captured inputs). The
  /// first capture checks the replay against the eager result; a mismatch or a capture that
  /// fails turns graphs off for good (logged) and the eager result is returned.
  at::Tensor run(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context, const at::Tensor& y,
                 const forward_fn& eager);

  /// Forgets every graph: the weights' storage changed (a LoRA merged or restored), and a graph
  /// replays the addresses it captured.
  void clear();

  bool enabled() const;
  void set_enabled(bool on);

private:
  struct entry;
  // Shapes of x, t, context and y (empty when undefined), dtypes, circular padding, device.
  using key = std::tuple<std::vector<int64_t>, std::vector<int64_t>, std::vector<int64_t>, std::vector<int64_t>, int,
                         int, bool, int>;
  entry* capture(const key& k, const at::Tensor& x, const at::Tensor& t, const at::Tensor& context, const at::Tensor& y,
                 const forward_fn& eager, at::Tensor& eager_out);

  void evict_for(int64_t bytes, int device);

  mutable std::mutex mutex_;
  size_t capacity_;
  double memory_share_;
  bool enabled_ = true;
  bool verified_ = false;
  uint64_t clock_ = 0;
  std::map<key, std::unique_ptr<entry>> graphs_;
};

} // namespace sdw
