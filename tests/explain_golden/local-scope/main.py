def setup():
    model = ['dense']
    print('set up', model)


setup()
print(model)
