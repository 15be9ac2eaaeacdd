// Checkpoint files of `lockstep bisect --checkpoints FILE` (layout: fixtures/SCHEMA.md "Decoder checkpoints").
#include <hdf5.h>

#include <cstdio>
#include <fmt/format.h>
#include <string>
#include <vector>

#include "core/error.h"
#include "oracle/bisect/decoder_bisect.h"

namespace lockstep::bisect {
namespace {

class H5File {
 public:
  explicit H5File(const std::string& path) : id_(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) {
    if (id_ < 0) throw Error("--checkpoints", path, "cannot create the HDF5 file");
  }
  ~H5File() {
    if (id_ >= 0) H5Fclose(id_);
  }
  hid_t id() const { return id_; }

 private:
  hid_t id_;
};

template <class T>
void write(hid_t loc, const std::string& name, const std::vector<T>& v, hid_t type, hsize_t cols = 1) {
  const hsize_t dims[2] = {cols > 1 ? v.size() / cols : v.size(), cols};
  const hid_t space = H5Screate_simple(cols > 1 ? 2 : 1, dims, nullptr);
  const hid_t ds = H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const herr_t rc = ds < 0 ? -1 : H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.empty() ? nullptr : v.data());
  if (ds >= 0) H5Dclose(ds);
  H5Sclose(space);
  if (rc < 0) throw Error("--checkpoints", name, "cannot write the dataset");
}

void attr(hid_t loc, const std::string& name, const std::string& value) {
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, value.empty() ? 1 : value.size());
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(loc, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, type, value.empty() ? "" : value.c_str());
  H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
}

void attr(hid_t loc, const std::string& name, int64_t value) {
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(loc, name.c_str(), H5T_NATIVE_INT64, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT64, &value);
  H5Aclose(a);
  H5Sclose(space);
}

}  // namespace

void write_checkpoints_h5(const StackRun& run, const std::string& path) {
  std::vector<int64_t> step, layer, op, part, rows, cols, offset, ids_local, lh, gh;
  std::vector<double> budget, used, l_abs, l_rel, l_nmse, l_ulps, g_abs, g_rel, g_nmse, g_ulps;
  std::vector<float> dev, loc, glob;
  for (const Checkpoint& c : run.checkpoints) {
    int64_t pi = 0;
    for (const PartRecord& p : c.parts) {
      step.push_back(c.step);
      layer.push_back(c.layer);
      op.push_back(static_cast<int64_t>(c.op));
      part.push_back(pi++);
      rows.push_back(p.rows);
      cols.push_back(p.cols);
      offset.push_back(static_cast<int64_t>(dev.size()));
      budget.push_back(c.budget);
      used.push_back(c.used);
      l_abs.push_back(p.local.max_abs);
      l_rel.push_back(p.local.max_rel);
      l_nmse.push_back(p.local.nmse);
      l_ulps.push_back(p.local.ulps);
      g_abs.push_back(p.global.max_abs);
      g_rel.push_back(p.global.max_rel);
      g_nmse.push_back(p.global.nmse);
      g_ulps.push_back(p.global.ulps);
      ids_local.push_back(p.local.id_mismatches);
      for (int64_t x : p.local.ulp_hist) lh.push_back(x);
      for (int64_t x : p.global.ulp_hist) gh.push_back(x);
      dev.insert(dev.end(), p.device.begin(), p.device.end());
      loc.insert(loc.end(), p.local_ref.begin(), p.local_ref.end());
      glob.insert(glob.end(), p.global_ref.begin(), p.global_ref.end());
    }
  }
  const std::string tmp = path + ".tmp";
  {
    H5File f(tmp);
    const hid_t root = f.id();
    attr(root, "kind", "decoder_checkpoints");
    attr(root, "fusions", model::fusion_set_str(run.options.fusions));
    attr(root, "fault", model::fault_name(run.options.fault));
    attr(root, "budget", run.options.budget.absolute ? "absolute" : "relative");
    std::string ops;
    for (int i = 0; i < model::kNumDecoderOps; ++i) ops += (i ? "," : "") + std::string(model::op_name(static_cast<model::DecoderOp>(i)));
    attr(root, "op_names", ops);
    attr(root, "ulp_buckets", "0,<=0.5,<=1,<=2,<=4,<=16,<=256,>256");
    attr(root, "rows", static_cast<int64_t>(step.size()));
    write(root, "step", step, H5T_NATIVE_INT64);
    write(root, "layer", layer, H5T_NATIVE_INT64);
    write(root, "op", op, H5T_NATIVE_INT64);
    write(root, "part", part, H5T_NATIVE_INT64);
    write(root, "part_rows", rows, H5T_NATIVE_INT64);
    write(root, "part_cols", cols, H5T_NATIVE_INT64);
    write(root, "offset", offset, H5T_NATIVE_INT64);
    write(root, "budget", budget, H5T_NATIVE_DOUBLE);
    write(root, "budget_used", used, H5T_NATIVE_DOUBLE);
    write(root, "local_max_abs", l_abs, H5T_NATIVE_DOUBLE);
    write(root, "local_max_rel", l_rel, H5T_NATIVE_DOUBLE);
    write(root, "local_nmse", l_nmse, H5T_NATIVE_DOUBLE);
    write(root, "local_ulps", l_ulps, H5T_NATIVE_DOUBLE);
    write(root, "local_id_mismatches", ids_local, H5T_NATIVE_INT64);
    write(root, "local_ulp_hist", lh, H5T_NATIVE_INT64, 8);
    write(root, "global_max_abs", g_abs, H5T_NATIVE_DOUBLE);
    write(root, "global_max_rel", g_rel, H5T_NATIVE_DOUBLE);
    write(root, "global_nmse", g_nmse, H5T_NATIVE_DOUBLE);
    write(root, "global_ulps", g_ulps, H5T_NATIVE_DOUBLE);
    write(root, "global_ulp_hist", gh, H5T_NATIVE_INT64, 8);
    write(root, "device", dev, H5T_NATIVE_FLOAT);
    write(root, "local_reference", loc, H5T_NATIVE_FLOAT);
    write(root, "global_reference", glob, H5T_NATIVE_FLOAT);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error("--checkpoints", path, "cannot rename the temporary file into place");
}

}  // namespace lockstep::bisect
