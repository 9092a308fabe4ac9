#include "runtime/engine/brownian_tree.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/seed_sequence.hpp"

#include <ATen/ATen.h>

#include <charconv>
#include <cmath>
#include <deque>
#include <vector>

namespace sdw {

double round_decimal(double x, int ndigits) {
  if (!std::isfinite(x) || x == 0) return x;
  // to_chars with a precision rounds the exact binary value (ties to even), as Python's dtoa does.
  char buf[512];
  const auto printed = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::fixed, ndigits);
  if (printed.ec != std::errc()) throw error(errc::internal, "brownian_tree", "cannot round a time");
  double out = 0;
  const auto parsed = std::from_chars(buf, printed.ptr, out);
  if (parsed.ec != std::errc()) throw error(errc::internal, "brownian_tree", "cannot round a time");
  return out;
}

namespace {

constexpr int tol_digits = 6;          // torchsde's BrownianTree: tol = 1e-6
constexpr std::size_t pool_size = 24;  // and pool_size = 24
constexpr std::size_t cache_limit = 48;
constexpr int max_depth = 200;         // far beyond any split a 1e-6 grid needs

double round_time(double t) { return round_decimal(t, tol_digits); }

/// A Python integer (a node's spawn key) as numpy's entropy words.
using big_uint = std::vector<std::uint32_t>;

big_uint child_key(const big_uint& parent, bool right) {
  big_uint key(parent.size());
  std::uint32_t carry = 0;
  for (std::size_t i = 0; i < parent.size(); ++i) {
    key[i] = (parent[i] << 1) | carry;
    carry = parent[i] >> 31;
  }
  if (carry) key.push_back(carry);
  key[0] |= right ? 1u : 0u;
  return key;
}

struct node {
  double start, end;
  node* parent;
  bool is_left;
  int depth;
  big_uint key;
  bool split = false;
  double mid = 0;
  std::uint32_t w_seed = 0;  ///< the seed of the draw that splits this node's increment
  std::unique_ptr<node> left, right;
  at::Tensor w;  ///< the increment over [start, end], while cached
};

} // namespace

struct brownian_tree::impl {
  std::vector<std::uint32_t> entropy;
  draw_fn draw;
  node root;
  std::deque<node*> cached;  // insertion order, as torchsde's bounded cache

  impl(double t0, double t1, std::uint64_t seed, draw_fn d)
    : entropy(uint32_words(seed)), draw(std::move(d)),
      root{round_time(t0), round_time(t1), nullptr, false, 0, {0}} {
    const std::uint32_t w0_seed = seed_sequence_state(entropy, {}, pool_size, 1)[0];
    // torchsde scales by the unrounded length.
    root.w = draw(w0_seed) * std::sqrt(t1 - t0);
  }

  void split_exact(node& n, double midway) {
    n.mid = round_time(midway);
    std::vector<std::uint32_t> spawn = n.key;
    const auto depth_words = uint32_words(static_cast<std::uint64_t>(n.depth));
    spawn.insert(spawn.end(), depth_words.begin(), depth_words.end());
    n.w_seed = seed_sequence_state(entropy, spawn, pool_size, 1)[0];
    n.left.reset(new node{n.start, n.mid, &n, true, n.depth + 1, child_key(n.key, false)});
    n.right.reset(new node{n.mid, n.end, &n, false, n.depth + 1, child_key(n.key, true)});
    n.split = true;
  }

  /// Splits `n` at its halfway point, then the child holding `point`, until `point` is a boundary.
  void split_toward(node& n, double point) {
    node* cur = &n;
    for (;;) {
      if (cur->depth > max_depth)
        throw error(errc::bad_request, "steps", "the Brownian tree cannot resolve the schedule's noise levels");
      split_exact(*cur, 0.5 * (cur->end + cur->start));
      if (point > cur->mid) {
        cur = cur->right.get();
      } else if (point < cur->mid) {
        cur = cur->left.get();
      } else {
        return;
      }
    }
  }

  /// The nodes that make up [ta, tb] ⊂ [n.start, n.end], left to right.
  void locate(node& n, double ta, double tb, std::vector<node*>& out) {
    if (ta == n.start && tb == n.end) {
      out.push_back(&n);
      return;
    }
    if (!n.split) split_toward(n, ta == n.start ? tb : ta);
    if (tb <= n.mid) {
      locate(*n.left, ta, tb, out);
    } else if (ta >= n.mid) {
      locate(*n.right, ta, tb, out);
    } else {
      locate(*n.left, ta, n.mid, out);
      locate(*n.right, n.mid, tb, out);
    }
  }

  /// A node's increment: from the nearest cached ancestor down (the root's is always kept).
  at::Tensor increment(node* n) {
    std::vector<node*> path;
    for (node* p = n; !p->w.defined(); p = p->parent) path.push_back(p);
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
      node& c = **it;
      const node& p = *c.parent;
      const double left_diff = p.mid - p.start;
      const double right_diff = p.end - p.mid;
      const double h_reciprocal = 1 / (p.end - p.start);
      const double var = left_diff * right_diff * h_reciprocal;
      // The same operations, in the same order and precision, as torchsde's bridge sample.
      const at::Tensor left_w = p.w * left_diff * h_reciprocal + draw(p.w_seed) * std::sqrt(var);
      c.w = c.is_left ? left_w : p.w - left_w;
      cached.push_back(&c);
      if (cached.size() > cache_limit) {
        cached.front()->w = at::Tensor();
        cached.pop_front();
      }
    }
    return n->w;
  }
};

brownian_tree::brownian_tree(double t0, double t1, std::uint64_t entropy, draw_fn draw) {
  if (!(t0 <= t1)) throw error(errc::internal, "brownian_tree", "the interval ends are out of order");
  impl_ = std::make_unique<impl>(t0, t1, entropy, std::move(draw));
}

brownian_tree::~brownian_tree() = default;
brownian_tree::brownian_tree(brownian_tree&&) noexcept = default;
brownian_tree& brownian_tree::operator=(brownian_tree&&) noexcept = default;

at::Tensor brownian_tree::operator()(double ta, double tb) {
  impl& s = *impl_;
  const double start = s.root.start, end = s.root.end;
  ta = std::min(std::max(ta, start), end);
  tb = std::min(std::max(tb, start), end);
  if (ta > tb) throw error(errc::bad_request, "steps", "Brownian tree queried backwards in time");
  if (ta == tb) return at::zeros_like(s.root.w);
  ta = round_time(ta);
  tb = round_time(tb);
  if (ta == tb)
    throw error(errc::bad_request, "steps", "two noise levels of the schedule are closer than the Brownian tree's "
                                            "resolution (1e-6)");
  std::vector<node*> parts;
  s.locate(s.root, ta, tb, parts);
  at::Tensor w = s.increment(parts.front()).clone();
  for (std::size_t i = 1; i < parts.size(); ++i) w = w + s.increment(parts[i]);
  return w;
}

} // namespace sdw
