// any_sampler: a type-erased sampler (one virtual call per draw), so that samplers built from a
// spec string at run time compose with the compile-time templates.
#pragma once

#include <cstdint>
#include <concepts>
#include <memory>
#include <type_traits>
#include <utility>

#include "thaw/data/sampler.hpp"

namespace thaw::data {

class any_sampler {
public:
  any_sampler() = default;
  // The same_as test comes first so that checking sampler<any_sampler> never recurses here.
  template <class S>
    requires(!std::same_as<std::remove_cvref_t<S>, any_sampler> && sampler<S>)
  any_sampler(S s) : p_(std::make_unique<model<S>>(std::move(s))) {}  // NOLINT: implicit by design
  any_sampler(const any_sampler& o) : p_(o.p_ ? o.p_->clone() : nullptr) {}
  any_sampler& operator=(const any_sampler& o) {
    if (this != &o) p_ = o.p_ ? o.p_->clone() : nullptr;
    return *this;
  }
  any_sampler(any_sampler&&) noexcept = default;
  any_sampler& operator=(any_sampler&&) noexcept = default;

  sample next() { return p_->next(); }
  void skip(std::uint64_t n) { p_->skip(n); }
  [[nodiscard]] std::uint64_t position() const { return p_->position(); }
  void save(state_writer& w) const { p_->save(w); }
  void restore(state_reader& r) { p_->restore(r); }
  [[nodiscard]] explicit operator bool() const { return p_ != nullptr; }

private:
  struct concept_t {
    virtual ~concept_t() = default;
    virtual sample next() = 0;
    virtual void skip(std::uint64_t n) = 0;
    virtual std::uint64_t position() const = 0;
    virtual void save(state_writer& w) const = 0;
    virtual void restore(state_reader& r) = 0;
    virtual std::unique_ptr<concept_t> clone() const = 0;
  };
  template <class S>
  struct model final : concept_t {
    S s;
    explicit model(S x) : s(std::move(x)) {}
    sample next() override { return s.next(); }
    void skip(std::uint64_t n) override { s.skip(n); }
    std::uint64_t position() const override { return s.position(); }
    void save(state_writer& w) const override { s.save(w); }
    void restore(state_reader& r) override { s.restore(r); }
    std::unique_ptr<concept_t> clone() const override { return std::make_unique<model>(s); }
  };
  std::unique_ptr<concept_t> p_;
};

}  // namespace thaw::data
