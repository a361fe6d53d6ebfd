namespace privedge {}
