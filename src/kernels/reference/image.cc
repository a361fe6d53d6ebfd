// Image family: registration, RoiAlign and NonMaxSuppression. Resize/Upsample live in
// image_resize.cc and GridSample in image_grid_sample.cc.
#include <array>
#include <string>
#include <vector>

#include "kernels/kernel_util.h"
#include "kernels/reference/families.h"
#include "kernels/reference/image_kernels.h"

namespace privedge {
namespace {

// ---- RoiAlign ----

struct RoiAlignOptions {
  bool max_mode = false;
  int64_t out_h = 1, out_w = 1;
  int64_t sampling_ratio = 0;
  double spatial_scale = 1;
  bool half_pixel = true;
};

// Bilinear read of an H x W plane with RoiAlign's edge rules: points more than one pixel
// outside contribute nothing, points slightly outside snap to the edge. Returns the four
// weighted corner values (the max mode pools them individually).
template <class T>
std::array<double, 4> RoiBilinear(const T* plane, int64_t h, int64_t w, double y, double x) {
  std::array<double, 4> r{0, 0, 0, 0};
  if (std::isnan(y) || std::isnan(x)) return r;
  if (y < -1.0 || y > static_cast<double>(h) || x < -1.0 || x > static_cast<double>(w)) return r;
  y = std::max(y, 0.0);
  x = std::max(x, 0.0);
  int64_t y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(x);
  int64_t y1 = y0 + 1, x1 = x0 + 1;
  if (y0 >= h - 1) {
    y0 = y1 = h - 1;
    y = static_cast<double>(y0);
  }
  if (x0 >= w - 1) {
    x0 = x1 = w - 1;
    x = static_cast<double>(x0);
  }
  const double ly = y - static_cast<double>(y0), lx = x - static_cast<double>(x0);
  const double hy = 1 - ly, hx = 1 - lx;
  auto at = [&](int64_t yy, int64_t xx) { return CastValue<double>(plane[yy * w + xx]); };
  r = {hy * hx * at(y0, x0), hy * lx * at(y0, x1), ly * hx * at(y1, x0), ly * lx * at(y1, x1)};
  return r;
}

// Adaptive sampling: about one sample per input pixel of the bin (none for empty or NaN bins).
// Capped so a malformed RoI cannot demand billions of samples per bin; bins wider than the cap
// are absurd on real feature maps.
constexpr double kMaxAdaptiveSamples = 1024;
int64_t AdaptiveSamples(double bin) {
  if (!(bin > 0)) return 0;
  return static_cast<int64_t>(std::ceil(std::min(bin, kMaxAdaptiveSamples)));
}

template <class T>
Status RoiAlignTyped(const Tensor& x, const Tensor& rois, const std::vector<int64_t>& batch,
                     const RoiAlignOptions& o, Tensor* y) {
  const int64_t c = x.dim(1), h = x.dim(2), w = x.dim(3);
  const int64_t num_rois = rois.dim(0);
  const T* in = x.data<T>();
  T* out = y->data<T>();
  const double offset = o.half_pixel ? 0.5 : 0.0;
  for (int64_t r = 0; r < num_rois; ++r) {
    const double x1 = rois.GetAsDouble(r * 4 + 0) * o.spatial_scale - offset;
    const double y1 = rois.GetAsDouble(r * 4 + 1) * o.spatial_scale - offset;
    const double x2 = rois.GetAsDouble(r * 4 + 2) * o.spatial_scale - offset;
    const double y2 = rois.GetAsDouble(r * 4 + 3) * o.spatial_scale - offset;
    double roi_w = x2 - x1, roi_h = y2 - y1;
    if (!o.half_pixel) {
      // The legacy mode forces malformed RoIs to be at least 1x1.
      roi_w = std::max(roi_w, 1.0);
      roi_h = std::max(roi_h, 1.0);
    }
    const double bin_h = roi_h / static_cast<double>(o.out_h);
    const double bin_w = roi_w / static_cast<double>(o.out_w);
    const int64_t grid_h = o.sampling_ratio > 0 ? o.sampling_ratio : AdaptiveSamples(bin_h);
    const int64_t grid_w = o.sampling_ratio > 0 ? o.sampling_ratio : AdaptiveSamples(bin_w);
    const double count = static_cast<double>(std::max<int64_t>(grid_h * grid_w, 1));
    for (int64_t ch = 0; ch < c; ++ch) {
      const T* plane = in + (batch[r] * c + ch) * h * w;
      T* dst = out + ((r * c + ch) * o.out_h) * o.out_w;
      for (int64_t ph = 0; ph < o.out_h; ++ph) {
        for (int64_t pw = 0; pw < o.out_w; ++pw) {
          double acc = 0;
          bool first = true;
          for (int64_t iy = 0; iy < grid_h; ++iy) {
            const double yy = y1 + static_cast<double>(ph) * bin_h +
                              (static_cast<double>(iy) + 0.5) * bin_h / static_cast<double>(grid_h);
            for (int64_t ix = 0; ix < grid_w; ++ix) {
              const double xx =
                  x1 + static_cast<double>(pw) * bin_w +
                  (static_cast<double>(ix) + 0.5) * bin_w / static_cast<double>(grid_w);
              const std::array<double, 4> v = RoiBilinear(plane, h, w, yy, xx);
              if (o.max_mode) {
                const double m = *std::max_element(v.begin(), v.end());
                acc = first ? m : std::max(acc, m);
                first = false;
              } else {
                acc += v[0] + v[1] + v[2] + v[3];
              }
            }
          }
          dst[ph * o.out_w + pw] = CastValue<T>(o.max_mode ? acc : acc / count);
        }
      }
    }
  }
  return Status::OK();
}

// ---- NonMaxSuppression ----

struct Box {
  double y1, x1, y2, x2;
  double Area() const { return (y2 - y1) * (x2 - x1); }
};

// Normalizes either box encoding to sorted corners so flipped corners work too.
Box ReadBox(const Tensor& boxes, int64_t offset, bool center_point) {
  const double a = boxes.GetAsDouble(offset), b = boxes.GetAsDouble(offset + 1);
  const double c = boxes.GetAsDouble(offset + 2), d = boxes.GetAsDouble(offset + 3);
  if (center_point) {
    // [x_center, y_center, width, height]
    return {b - d / 2, a - c / 2, b + d / 2, a + c / 2};
  }
  return {std::min(a, c), std::min(b, d), std::max(a, c), std::max(b, d)};
}

double IntersectionOverUnion(const Box& p, const Box& q) {
  const double ih = std::min(p.y2, q.y2) - std::max(p.y1, q.y1);
  const double iw = std::min(p.x2, q.x2) - std::max(p.x1, q.x1);
  if (ih <= 0 || iw <= 0) return 0;
  const double inter = ih * iw;
  const double uni = p.Area() + q.Area() - inter;
  return uni > 0 ? inter / uni : 0;
}

}  // namespace

Status RoiAlign(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* rois, ctx.RequireInput(1));
  PE_ASSIGN_OR_RETURN(const Tensor* bi, ctx.RequireInput(2));
  if (x->rank() != 4)
    return ctx.Error("X must be 4-D [N, C, H, W], got ", ShapeToString(x->shape()));
  if (rois->rank() != 2 || rois->dim(1) != 4)
    return ctx.Error("rois must be [num_rois, 4], got ", ShapeToString(rois->shape()));
  if (bi->rank() != 1 || bi->dim(0) != rois->dim(0) || !IsIntegerDType(bi->dtype()))
    return ctx.Error("batch_indices must be an integer tensor of shape [", rois->dim(0), "], got ",
                     DTypeName(bi->dtype()), " ", ShapeToString(bi->shape()));
  std::vector<int64_t> batch = ToInt64Vector(*bi);
  for (size_t i = 0; i < batch.size(); ++i)
    if (batch[i] < 0 || batch[i] >= x->dim(0))
      return ctx.Error("batch_indices[", i, "] = ", batch[i], " is outside [0, ", x->dim(0), ")");
  RoiAlignOptions o;
  const std::string mode = ctx.attr_string("mode", "avg");
  if (mode != "avg" && mode != "max") return ctx.Error("mode must be avg or max, got '", mode, "'");
  o.max_mode = mode == "max";
  o.out_h = ctx.attr_int("output_height", 1);
  o.out_w = ctx.attr_int("output_width", 1);
  o.sampling_ratio = ctx.attr_int("sampling_ratio", 0);
  o.spatial_scale = ctx.attr_float("spatial_scale", 1.0f);
  if (o.out_h < 1 || o.out_w < 1 || o.sampling_ratio < 0 || o.sampling_ratio > (1 << 16))
    return ctx.Error("output_height/output_width must be >= 1 and sampling_ratio in [0, 65536]");
  const std::string coord = ctx.attr_string("coordinate_transformation_mode",
                                            ctx.opset() >= 16 ? "half_pixel" : "output_half_pixel");
  if (coord != "half_pixel" && coord != "output_half_pixel")
    return ctx.Error(
        "coordinate_transformation_mode must be half_pixel or output_half_pixel, got '", coord,
        "'");
  o.half_pixel = coord == "half_pixel";
  PE_ASSIGN_OR_RETURN(
      Tensor * y, ctx.AllocateOutput(0, x->dtype(), {rois->dim(0), x->dim(1), o.out_h, o.out_w}));
  if (y->numel() == 0) return Status::OK();
  if (x->dim(2) == 0 || x->dim(3) == 0) return Status::OK();
  return DispatchFloat(
      x->dtype(), [&](auto tag) { return RoiAlignTyped<decltype(tag)>(*x, *rois, batch, o, y); });
}

Status NonMaxSuppression(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* boxes, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* scores, ctx.RequireInput(1));
  if (boxes->rank() != 3 || boxes->dim(2) != 4)
    return ctx.Error("boxes must be [batch, spatial, 4], got ", ShapeToString(boxes->shape()));
  if (scores->rank() != 3 || scores->dim(0) != boxes->dim(0) || scores->dim(2) != boxes->dim(1))
    return ctx.Error("scores must be [", boxes->dim(0), ", classes, ", boxes->dim(1), "], got ",
                     ShapeToString(scores->shape()));
  auto scalar = [&](int i) -> const Tensor* {
    const Tensor* t = ctx.input(i);
    return t && t->numel() > 0 ? t : nullptr;
  };
  int64_t max_per_class = 0;
  if (const Tensor* t = scalar(2)) max_per_class = t->GetAsInt64(0);
  const double iou_threshold = scalar(3) ? scalar(3)->GetAsDouble(0) : 0.0;
  if (!(iou_threshold >= 0 && iou_threshold <= 1))
    return ctx.Error("iou_threshold must be in [0, 1], got ", iou_threshold);
  const bool has_score_threshold = scalar(4) != nullptr;
  const double score_threshold = has_score_threshold ? scalar(4)->GetAsDouble(0) : 0.0;
  const bool center_point = ctx.attr_int("center_point_box", 0) != 0;

  const int64_t num_batches = boxes->dim(0), num_classes = scores->dim(1);
  const int64_t num_boxes = boxes->dim(1);
  std::vector<int64_t> selected;  // triples (batch, class, box)
  for (int64_t b = 0; max_per_class > 0 && b < num_batches; ++b) {
    std::vector<Box> all(static_cast<size_t>(num_boxes));
    for (int64_t i = 0; i < num_boxes; ++i)
      all[i] = ReadBox(*boxes, (b * num_boxes + i) * 4, center_point);
    for (int64_t cl = 0; cl < num_classes; ++cl) {
      const int64_t base = (b * num_classes + cl) * num_boxes;
      std::vector<int64_t> order;
      for (int64_t i = 0; i < num_boxes; ++i) {
        const double score = scores->GetAsDouble(base + i);
        // A NaN score cannot be ranked (and would break the sort's ordering), so it is dropped.
        if (std::isnan(score) || (has_score_threshold && !(score > score_threshold))) continue;
        order.push_back(i);
      }
      // Highest score first; ties keep the lower box index first.
      std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) {
        return scores->GetAsDouble(base + p) > scores->GetAsDouble(base + q);
      });
      std::vector<int64_t> kept;
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) >= max_per_class) break;
        const bool suppressed = std::any_of(kept.begin(), kept.end(), [&](int64_t k) {
          return IntersectionOverUnion(all[i], all[k]) > iou_threshold;
        });
        if (suppressed) continue;
        kept.push_back(i);
        selected.insert(selected.end(), {b, cl, i});
      }
    }
  }
  const int64_t n = static_cast<int64_t>(selected.size() / 3);
  PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, DType::kInt64, {n, 3}));
  std::copy(selected.begin(), selected.end(), y->data<int64_t>());
  return Status::OK();
}

void RegisterImageKernels(KernelRegistry& r) {
  r.Add("Resize", ResizeKernel);
  r.Add("Upsample", UpsampleKernel);
  r.Add("GridSample", GridSample);
  r.Add("RoiAlign", RoiAlign);
  r.Add("NonMaxSuppression", NonMaxSuppression);
}

}  // namespace privedge
