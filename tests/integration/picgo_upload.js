// Uploads files with PicGo and picgo-plugin-s3, exactly as the PicGo app does, and prints
// the URLs PicGo returns as a JSON array.
// usage: node picgo_upload.js CONFIG_JSON ENDPOINT ACCESS_KEY SECRET_KEY BUCKET FILE...
const path = require("path");
const modules = process.env.PICGO_MODULES;
const { PicGo } = require(path.join(modules, "picgo"));
const s3Plugin = require(path.join(modules, "picgo-plugin-s3"));

async function main() {
  const [configPath, endpoint, accessKey, secretKey, bucket, ...files] = process.argv.slice(2);
  const picgo = new PicGo(configPath);
  picgo.use(s3Plugin, "picgo-plugin-s3");
  picgo.setConfig({
    "picBed.current": "aws-s3",
    "picBed.uploader": "aws-s3",
    "picBed.aws-s3": {
      accessKeyID: accessKey,
      secretAccessKey: secretKey,
      bucketName: bucket,
      uploadPath: "{year}/{month}/{md5}.{extName}",
      endpoint,
      pathStyleAccess: true,
      acl: "public-read",
    },
  });
  const result = await picgo.upload(files);
  if (result instanceof Error) throw result;
  const urls = result.map((r) => r.imgUrl);
  if (urls.length !== files.length || urls.some((u) => !u)) {
    throw new Error("PicGo returned no URL: " + JSON.stringify(result));
  }
  console.log(JSON.stringify(urls));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
