// nn::lenet5<B> — LeNet-5 in Caffe's variant ("Gradient-Based Learning Applied to Document
// Recognition", LeCun et al. 1998; layer sizes of Caffe's MNIST example): conv 20@5x5, max-pool
// 2x2, conv 50@5x5, max-pool 2x2, fc 500, ReLU, fc 10, on 1x28x28 images. And
// nn::mlp_classifier<B>: fc, ReLU, fc.
//
// Parameter names: conv1.*, conv2.*, fc1.*, fc2.*. Conv weights are [out, in, k, k] as
// PyTorch's; fc weights are [in, out] (thaw's Linear), the transpose of PyTorch's nn.Linear.
#pragma once

#include "thaw/nn/containers.hpp"
#include "thaw/nn/conv.hpp"
#include "thaw/nn/linear.hpp"

namespace thaw::nn {

template <class B>
using lenet5_layers = sequential<conv2d<B>, max_pool2d<B>, conv2d<B>, max_pool2d<B>, flatten<B>,
                                 linear<B>, relu<B>, linear<B>>;

template <class B>
class lenet5 : public lenet5_layers<B> {
public:
  explicit lenet5(const scope<B>& s, int classes = 10)
      : lenet5_layers<B>(s, {{"conv1", {1, 20, 5}}, {"", {2, 2}}, {"conv2", {20, 50, 5}}, {"", {2, 2}},
                             {"", {}}, {"fc1", {50 * 4 * 4, 500}}, {"", {}}, {"fc2", {500, classes}}}) {}
};

template <class B>
using mlp_classifier_layers = sequential<flatten<B>, linear<B>, relu<B>, linear<B>>;

template <class B>
class mlp_classifier : public mlp_classifier_layers<B> {
public:
  struct config {
    int inputs = 784;
    int hidden = 256;
    int classes = 10;
  };
  mlp_classifier(const scope<B>& s, config c)
      : mlp_classifier_layers<B>(s, {{"", {}}, {"fc1", {c.inputs, c.hidden}}, {"", {}}, {"fc2", {c.hidden, c.classes}}}) {}
};

}  // namespace thaw::nn
