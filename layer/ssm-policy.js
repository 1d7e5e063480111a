// The IAM policy that lets the function read its SSM parameters: ssm:GetParameter on exactly
// the names listed in the ssmParameters param, and no policy at all when the list is empty.
// (CloudFormation cannot map a list of names to ARNs without a transform; osls can, here.)
'use strict';

module.exports = async ({ resolveVariable }) => {
  const names = (await resolveVariable('param:ssmParameters, null')) || [];
  if (!Array.isArray(names)) {
    throw new Error('ssmParameters must be a list of parameter names, like [/app/db/password]');
  }
  if (names.length === 0) return {};
  const resources = names.map((name) => {
    if (typeof name !== 'string' || name === '' || name.startsWith('arn:')) {
      throw new Error(`ssmParameters entry ${JSON.stringify(name)}: give a parameter name like /app/db/password, not an ARN`);
    }
    const path = name.startsWith('/') ? name : `/${name}`;
    return { 'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${path}` };
  });
  return {
    Resources: {
      SsmGetParameterPolicy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          PolicyName: { 'Fn::Sub': '${AWS::StackName}-ssm-get-parameter' },
          Roles: [{ Ref: 'IamRoleLambdaExecution' }],
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Action: 'ssm:GetParameter', Resource: resources }],
          },
        },
      },
    },
  };
};
