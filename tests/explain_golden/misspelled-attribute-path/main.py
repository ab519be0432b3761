class UNet:
    def __init__(self):
        self.model = {'layers': 23}

    def summary(self):
        print(self.model)


unet_model = UNet()
unet_model.summary()
print(model['layers'])
