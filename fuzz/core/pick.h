#pragma once
/// Shrinkable choices for generators written with rc::gen::exec. rapidcheck's gen::element and the choice
/// made by gen::weightedOneOf never shrink, and gen::inRange is size-scaled (small sizes pick the first
/// options). A choice drawn here is uniform over the options at every size and shrinks toward the FIRST
/// option (list the simplest first; repeat an option to weight it).
#include <cstddef>
#include <initializer_list>
#include <vector>

#include <rapidcheck.h>

namespace lockstep::fuzz {

template <class T>
rc::Gen<T> shrinkable_element(std::vector<T> options) {
  return [options](const rc::Random& random, int) {
    const size_t i = static_cast<size_t>(rc::Random(random).next() % options.size());
    return rc::shrinkable::map(
        rc::shrinkable::shrinkRecur(i, [](size_t x) { return rc::shrink::towards<size_t>(x, 0); }),
        [options](size_t x) { return options[x]; });
  };
}

template <class T>
T pick(std::initializer_list<T> options) {
  return *shrinkable_element(std::vector<T>(options));
}

}  // namespace lockstep::fuzz
